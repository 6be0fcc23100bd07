"""Build-time check of the GPU worker image: ``python -m gpu_service.image_check [--libraries]``.

No GPU exists while an image is built, so whether CUDA is *active* is checked when the worker starts
(:mod:`gpu_service.entry`). What can be known at build time, and is checked here:

1. the ``onnxruntime`` module comes from the ``onnxruntime-gpu`` distribution alone (the CPU
   ``onnxruntime`` wheel provides the same module; with both installed, whichever was installed last wins);
2. the CUDA major version the onnxruntime-gpu build was made for (its build info ``cuda_version``, and the
   ``nvidia-cuda-runtime`` requirement of its METADATA) equals the base image's, read from the
   ``CUDA_VERSION`` environment variable that the ``nvidia/cuda`` images set: a CUDA 13 build on a
   CUDA 12 image silently runs on CPU;
3. onnxruntime lists ``CUDAExecutionProvider``;
4. with ``--libraries``: every shared library the CUDA provider (``libonnxruntime_providers_cuda.so``)
   links against resolves (``ldd``): cuBLAS, cuFFT, cuRAND, the CUDA runtime, cuDNN of the right majors.

Prints one line per check; exit status 0 when all pass, 1 otherwise (the Dockerfile's ``RUN`` then fails).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

GPU_DISTRIBUTION = "onnxruntime-gpu"

_CUDA_RUNTIME_REQ = re.compile(r"^nvidia-cuda-runtime(?:-cu(?P<suffix>\d+))?$")


def cuda_major(version: str) -> int:
    """The major of a CUDA version string (``12.8.1`` → 12).

    Raises:
        ValueError: not a dotted version.
    """
    match = re.match(r"^\s*(\d+)(?:\.\d+)*\s*$", version or "")
    if not match:
        raise ValueError(f"not a CUDA version: {version!r}")
    return int(match.group(1))


def required_cuda_major(requires: Iterable[str]) -> int | None:
    """The CUDA major an onnxruntime-gpu wheel's METADATA asks for, from its ``nvidia-cuda-runtime``
    requirement (extra ``cuda``): ``nvidia-cuda-runtime-cu12~=12.0`` → 12, ``nvidia-cuda-runtime~=13.0`` → 13.

    Args:
        requires: ``Requires-Dist`` values (``importlib.metadata.requires``).

    Returns:
        The major, or None when no such requirement is listed.
    """
    from packaging.requirements import Requirement

    for line in requires:
        req = Requirement(line)
        match = _CUDA_RUNTIME_REQ.match(req.name.lower().replace("_", "-"))
        if not match:
            continue
        if match.group("suffix"):
            return int(match.group("suffix"))
        for spec in req.specifier:
            return cuda_major(spec.version)
    return None


def onnxruntime_distributions() -> list[str]:
    """Installed distributions that provide the top-level ``onnxruntime`` module (normalised names)."""
    names = importlib.metadata.packages_distributions().get("onnxruntime", [])
    return sorted({n.lower().replace("_", "-") for n in names})


def build_info() -> dict[str, str]:
    """The installed onnxruntime's build info: ``package_name``, ``version``, ``cuda_version`` ('' for CPU builds)."""
    from onnxruntime.capi import build_and_package_info as info

    return {
        "package_name": getattr(info, "package_name", ""),
        "version": getattr(info, "__version__", ""),
        "cuda_version": getattr(info, "cuda_version", ""),
    }


def missing_libraries(library: Path) -> list[str]:
    """Shared libraries `library` links against that the dynamic loader cannot find (``ldd``'s "not found").

    Raises:
        FileNotFoundError: ``ldd`` is not installed or `library` does not exist.
    """
    ldd = shutil.which("ldd")
    if ldd is None:
        raise FileNotFoundError("ldd is not installed")
    if not library.is_file():
        raise FileNotFoundError(library)
    out = subprocess.run([ldd, str(library)], capture_output=True, text=True, check=False).stdout
    return sorted(line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line)


def cuda_provider_library() -> Path:
    """Path of onnxruntime's CUDA execution provider library (``capi/libonnxruntime_providers_cuda.so``)."""
    import onnxruntime

    return Path(onnxruntime.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"


def check(environ: Mapping[str, str] | None = None, libraries: bool = False) -> list[tuple[bool, str]]:
    """Run the checks of the module docstring.

    Args:
        environ: where ``CUDA_VERSION`` is read (default ``os.environ``).
        libraries: also check that the CUDA provider's shared libraries resolve.

    Returns:
        ``(passed, description)`` per check, in order; the first failure of a prerequisite ends the list.
    """
    env = os.environ if environ is None else environ
    results: list[tuple[bool, str]] = []
    dists = onnxruntime_distributions()
    ok = dists == [GPU_DISTRIBUTION]
    results.append((ok, f"the onnxruntime module comes from {dists or 'nothing'} (must be exactly ['{GPU_DISTRIBUTION}'])"))
    if not ok:
        return results
    info = build_info()
    results.append((bool(info["cuda_version"]), f"onnxruntime {info['version']} ({info['package_name']}) built for CUDA {info['cuda_version'] or 'none'}"))
    if not info["cuda_version"]:
        return results
    build_major = cuda_major(info["cuda_version"])
    meta_major = required_cuda_major(importlib.metadata.requires(GPU_DISTRIBUTION) or [])
    results.append((meta_major == build_major, f"its METADATA requires the CUDA {meta_major} runtime (build info: CUDA {build_major})"))
    image_cuda = env.get("CUDA_VERSION", "")
    try:
        image_major: int | None = cuda_major(image_cuda)
    except ValueError:
        image_major = None
    results.append((image_major == build_major, f"the base image's CUDA_VERSION={image_cuda or '(unset)'} has the build's CUDA major {build_major}"))
    import onnxruntime as ort

    available = ort.get_available_providers()
    results.append(("CUDAExecutionProvider" in available, f"onnxruntime lists {available}"))
    if libraries:
        try:
            missing = missing_libraries(cuda_provider_library())
            results.append((not missing, f"the CUDA provider's shared libraries resolve (missing: {missing or 'none'})"))
        except FileNotFoundError as exc:
            results.append((False, f"cannot check the CUDA provider's shared libraries: {exc}"))
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: print each check, return 0 when all pass, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m gpu_service.image_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", action="store_true", help="also check the CUDA provider's shared libraries with ldd")
    args = parser.parse_args(argv)
    results = check(libraries=args.libraries)
    for passed, text in results:
        print(f"{'ok  ' if passed else 'FAIL'} {text}")
    failed = [text for passed, text in results if not passed]
    if failed:
        print(f"image check failed: {failed[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
