"""A style is one declaration: the catalogue (Lambda layer) and the worker's registries agree, the
pipeline dispatches on the declarations alone, renderers may take a ``method``."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import disc_photo

from gpu_service.pipeline import StickerPipeline
from gpu_service.pipeline import pipeline as pipeline_module
from gpu_service.pipeline.diecut import prepare
from gpu_service.pipeline.presets import PRESETS
from gpu_service.pipeline.registry import IMAGE_STYLE_REGISTRY, ImageStyle, Matte, needs_exact_matte, needs_full_resolution
from gpu_service.pipeline.text import TEXT_STYLE_TABLE
from stickers_core import styles as catalogue
from stickers_core.validation import PRESETS as API_PRESETS

ROOT = Path(__file__).resolve().parents[3]


def test_catalogue_and_worker_list_the_same_styles_in_the_same_order():
    assert tuple(IMAGE_STYLE_REGISTRY) == catalogue.IMAGE_STYLE_NAMES
    assert tuple(TEXT_STYLE_TABLE) == catalogue.TEXT_STYLE_NAMES
    assert [entry.name for entry in IMAGE_STYLE_REGISTRY.values()] == list(catalogue.IMAGE_STYLE_NAMES)
    assert [entry.name for entry in TEXT_STYLE_TABLE.values()] == list(catalogue.TEXT_STYLE_NAMES)
    assert set(PRESETS) == set(API_PRESETS), "the worker encodes every preset the API accepts"


def test_every_style_has_a_kind_a_description_and_a_unique_name():
    names = [s.name for s in catalogue.STYLES]
    assert len(names) == len(set(names))
    assert {s.kind for s in catalogue.IMAGE_STYLES} == {"image"} and {s.kind for s in catalogue.TEXT_STYLES} == {"text"}
    assert all(s.description.strip().endswith(".") for s in catalogue.STYLES)
    assert catalogue.catalogue() == {
        kind: [{"name": s.name, "description": s.description, "default": s.default} for s in group]
        for kind, group in (("image", catalogue.IMAGE_STYLES), ("text", catalogue.TEXT_STYLES))
    }


def test_defaults_come_from_the_flags():
    assert catalogue.DEFAULT_IMAGE_STYLES == tuple(s.name for s in catalogue.IMAGE_STYLES if s.default)
    assert catalogue.DEFAULT_TEXT_STYLES == tuple(s.name for s in catalogue.TEXT_STYLES if s.default)
    assert all(entry.default == catalogue.style(name).default for name, entry in IMAGE_STYLE_REGISTRY.items())
    assert all(entry.description == catalogue.style(name).description for name, entry in IMAGE_STYLE_REGISTRY.items())
    with pytest.raises(KeyError):
        catalogue.style("glitter")


def test_readme_marks_exactly_the_default_styles():
    """README's style table says "(default)" after each default style (styles it lists)."""
    rows = re.findall(r"\| `([a-z]+)`( \(default\))? \|", (ROOT / "README.md").read_text())
    known = set(catalogue.IMAGE_STYLE_NAMES + catalogue.TEXT_STYLE_NAMES)
    listed = {name: bool(mark) for name, mark in rows if name in known}
    assert listed, "README's style table"
    for name, marked in listed.items():
        assert marked == catalogue.style(name).default, name
    assert set(catalogue.DEFAULT_IMAGE_STYLES + catalogue.DEFAULT_TEXT_STYLES) <= set(listed)


def test_docs_describe_every_style():
    """docs/styles.md has a table row per style ("adding a style" includes its docs)."""
    rows = set(re.findall(r"^\| `([a-z]+)` \|", (ROOT / "docs" / "styles.md").read_text(), re.M))
    assert set(catalogue.IMAGE_STYLE_NAMES + catalogue.TEXT_STYLE_NAMES) <= rows


def test_the_catalogue_imports_nothing_of_the_worker():
    """The Lambda layer's catalogue imports neither numpy, OpenCV, Pillow nor gpu_service."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import stickers_core.styles; "
        "heavy = {'numpy', 'cv2', 'PIL', 'gpu_service', 'onnxruntime'} & {m.split('.')[0] for m in sys.modules}; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-I", "-c", code, str(ROOT / "layers" / "core")], check=True)


def test_the_pipeline_names_no_style():
    """The style dispatch reads declarations: no string constant in pipeline.py is a style name."""
    tree = ast.parse(Path(pipeline_module.__file__).read_text())
    names = set(catalogue.IMAGE_STYLE_NAMES + catalogue.TEXT_STYLE_NAMES)
    used = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in names}
    assert not used


def test_cutout_is_declared_full_resolution_with_the_exact_matte():
    special = {name for name, entry in IMAGE_STYLE_REGISTRY.items() if entry.full_resolution or entry.matte is Matte.EXACT}
    assert special == {"cutout"}
    assert needs_full_resolution(["classic", "cutout"]) and not needs_full_resolution(["classic", "glitter"])
    assert needs_exact_matte(["cutout"]) and not needs_exact_matte(catalogue.DEFAULT_IMAGE_STYLES)
    assert all(entry.cost >= 1 for entry in IMAGE_STYLE_REGISTRY.values())


def _stub(calls: list):
    def with_method(subject, variant=0, method="advanced"):  # noqa: ANN001, ANN202
        calls.append((variant, method))
        return Image.new("RGBA", subject.size)

    return with_method


def test_a_renderer_may_take_a_method():
    calls: list = []
    entry = ImageStyle("stub", _stub(calls), cost=3)
    plain = ImageStyle("plain", lambda subject, variant=0: Image.new("RGBA", subject.size))
    assert entry.takes_method and not plain.takes_method
    rgb, alpha = disc_photo(80, 100)
    subject = prepare(rgb, alpha)
    entry.render(subject, 1)
    entry.render(subject, 2, "artistic")
    assert calls == [(1, "advanced"), (2, "artistic")], "None leaves the renderer's default"
    assert plain.render(subject, 0, "artistic").size == subject.size, "a renderer without a method ignores it"


class _DiscModel:
    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return disc_photo(rgb.shape[0], rgb.shape[1])[1]


def test_a_declared_style_goes_through_the_pipeline(monkeypatch):
    """A style the pipeline has never heard of works once declared: its renderer is fed, its method
    passed on, its cost orders the tasks."""
    calls: list = []
    monkeypatch.setitem(IMAGE_STYLE_REGISTRY, "stub", ImageStyle("stub", _stub(calls), cost=100))
    monkeypatch.setattr(pipeline_module, "IMAGE_STYLE_NAMES", (*catalogue.IMAGE_STYLE_NAMES, "stub"))
    rgb, _ = disc_photo(120, 160)
    pipeline = StickerPipeline(_DiscModel(), encode_workers=1)
    timings: dict[str, float] = {}
    out = pipeline.render_image(Image.fromarray(rgb), ["classic", "stub", "stub"], timings=timings, method="basic")
    assert [(s.index, s.style) for s in out] == [(1, "classic"), (2, "stub"), (3, "stub")]
    assert calls == [(0, "basic"), (1, "basic")]
    assert Image.open(io.BytesIO(out[1].png)).mode == "RGBA"
    assert list(timings).index("render:stub") < list(timings).index("render:classic"), "costliest first"


METHOD_STYLES = [name for name, entry in IMAGE_STYLE_REGISTRY.items() if entry.takes_method]


def test_some_registered_renderers_take_a_method():
    assert METHOD_STYLES, "the method pass-through is exercised by a real renderer"


@pytest.mark.parametrize("style", METHOD_STYLES)
def test_the_pipeline_passes_the_method_to_a_registered_renderer(style):
    rgb, _ = disc_photo(160, 200)
    pipeline = StickerPipeline(_DiscModel(), encode_workers=1)
    plain, basic, artistic = (
        pipeline.render_image(Image.fromarray(rgb), [style], method=method)[0].png for method in (None, "basic", "artistic")
    )
    assert basic != artistic, "the method reaches the renderer"
    assert plain == pipeline.render_image(Image.fromarray(rgb), [style], method="advanced")[0].png, "None = the default"
    with pytest.raises(ValueError, match="method"):
        pipeline.render_image(Image.fromarray(rgb), [style], method="cubist")
