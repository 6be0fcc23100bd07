"""Shared fixtures: paths, the peer reference data (skipped where absent), and real photos."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
#: rembg's published photos and cutouts; present beside a developer's checkout, absent in a user's clone.
PEER_DIR = REPO_ROOT.parent / "shared" / "peer" / "rembg"


#: Folders whose tests share the session's CDK syntheses (tests/infra) or its staged assets and built
#: artifacts (tests/artifacts): one xdist worker runs them all, so each synthesis happens once.
_CDK_FOLDERS = ("infra", "artifacts")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``./dev test`` runs ``-n 2 --dist loadgroup``): a test file is one group (its
    module- and package-scoped stacks are started once, and files such as the hostile-input corpus check
    what their earlier tests recorded), and everything that synthesizes the CDK app is one group."""
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        relative = item.path.resolve().relative_to(tests_dir)
        cdk = relative.parts[0] in _CDK_FOLDERS or "synth" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group("cdk" if cdk else relative.as_posix()))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory):
    """The CDK app synthesized once per session (:func:`tests.cdk_synth.synthesize`, ~10-40 s on 2
    cores): used by tests/infra (the template) and tests/artifacts (the staged Lambda assets)."""
    from tests.cdk_synth import synthesize

    return synthesize(tmp_path_factory.mktemp("cdk.out"))


def peer_path(*parts: str) -> Path:
    """A file of the peer data, or skip the test (with the reason) where the folder is absent."""
    path = PEER_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"peer reference data not found at {path} (it lives beside a developer's checkout only)")
    return path


@pytest.fixture(scope="session")
def cat_photo() -> bytes:
    """A real photo an installed package ships: scikit-image's chelsea.png (451×300 px), as JPEG bytes."""
    import skimage.data

    src = Path(skimage.data.__file__).resolve().parent / "chelsea.png"
    buf = io.BytesIO()
    Image.open(src).convert("RGB").save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="session")
def coffee_photo() -> bytes:
    """scikit-image's coffee.png (a cup on a table), as PNG bytes."""
    import skimage.data

    return (Path(skimage.data.__file__).resolve().parent / "coffee.png").read_bytes()
