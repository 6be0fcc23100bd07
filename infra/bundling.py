"""The core Lambda layer, bundled WITHOUT Docker.

The layer asset holds ``python/stickers_core/…`` and the third-party packages of
``functions/requirements.txt``, pip-installed as manylinux wheels for the Lambda platform and
architecture (``pip install --platform manylinux2014_aarch64 --only-binary=:all: …``). That works on
any machine with pip, so ``cdk synth`` needs no Docker engine; the Docker image given to
:class:`aws_cdk.BundlingOptions` is only the fallback CDK uses when local bundling declines.

Bundles are cached under ``build/layer-cache/<hash>`` (the hash covers the core package's files,
the requirements file, the platform and the Python version), so repeated synths copy instead of
reinstalling.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE_PACKAGE_DIR = REPO_ROOT / "layers" / "core" / "stickers_core"
REQUIREMENTS_FILE = REPO_ROOT / "functions" / "requirements.txt"
CACHE_DIR = REPO_ROOT / "build" / "layer-cache"

#: Bumped when the bundling recipe changes, so old cached bundles are not reused.
_RECIPE_VERSION = "1"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")

#: pip platform tags per Lambda architecture (Lambda's Amazon Linux 2023 has glibc 2.34).
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def layer_hash(architecture: str, python_version: str) -> str:
    """Hash of everything that goes into the layer: core sources, requirements, target platform."""
    digest = hashlib.sha256(f"{_RECIPE_VERSION}|{architecture}|{python_version}".encode())
    for path in _files(CORE_PACKAGE_DIR) + [REQUIREMENTS_FILE]:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def pip_install_command(target: Path, architecture: str, python_version: str) -> list[str]:
    """The pip command that installs the requirements as Lambda-platform wheels into `target`."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    cmd += ["--no-warn-conflicts", "--no-warn-script-location"]
    for platform in PLATFORMS[architecture]:
        cmd += ["--platform", platform]
    cmd += [
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", python_version,
        "--target", str(target),
        "--upgrade",
        "-r", str(REQUIREMENTS_FILE),
    ]
    return cmd


def build_layer_tree(output_dir: Path, architecture: str, python_version: str) -> None:
    """Write the layer's content (``python/…``) into `output_dir`, through the on-disk cache."""
    key = layer_hash(architecture, python_version)
    cached = CACHE_DIR / key
    if not (cached / ".complete").exists():
        staging = CACHE_DIR / f"{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        site = staging / "python"
        site.mkdir(parents=True)
        done = subprocess.run(
            pip_install_command(site, architecture, python_version), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise subprocess.CalledProcessError(done.returncode, done.args)
        shutil.copytree(CORE_PACKAGE_DIR, site / "stickers_core", ignore=_IGNORED)
        for junk in list(site.rglob("__pycache__")):
            shutil.rmtree(junk, ignore_errors=True)
        shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts: useless in a layer
        (staging / ".complete").write_text(key)
        shutil.rmtree(cached, ignore_errors=True)
        staging.rename(cached)
    shutil.copytree(cached / "python", output_dir / "python", dirs_exist_ok=True)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """CDK local bundling: pip-installs Lambda-platform wheels on this machine (no Docker)."""

    def __init__(self, architecture: str, python_version: str) -> None:
        self.architecture = architecture
        self.python_version = python_version

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:  # noqa: ARG002
        """Bundle into `output_dir`; False (so CDK falls back to Docker) when pip cannot."""
        try:
            build_layer_tree(Path(output_dir), self.architecture, self.python_version)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"[stickers] local layer bundling failed, falling back to Docker: {exc}", file=sys.stderr)
            return False
        return True


class CoreLayer(Construct):
    """One Lambda layer: the shared ``stickers_core`` package plus its third-party wheels.

    Args:
        architecture: the functions' architecture (``lambda_.Architecture.ARM_64`` by default).
        runtime: the functions' Python runtime (its version picks the wheels).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
    ) -> None:
        super().__init__(scope, construct_id)
        arch = architecture.name  # "arm64" | "x86_64"
        py_version = runtime.name.removeprefix("python")  # "3.12"
        docker_platform = "linux/arm64" if arch == "arm64" else "linux/amd64"
        self.asset_hash = layer_hash(arch, py_version)
        code = lambda_.Code.from_asset(
            str(REPO_ROOT),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=self.asset_hash,
            bundling=BundlingOptions(
                # Fallback only (used when local bundling returns False): the SAM build image.
                image=DockerImage.from_registry(f"public.ecr.aws/sam/build-python{py_version}:latest"),
                platform=docker_platform,
                command=[
                    "bash",
                    "-c",
                    "pip install --no-compile -r functions/requirements.txt -t /asset-output/python"
                    " && cp -r layers/core/stickers_core /asset-output/python/",
                ],
                local=LocalPipBundling(arch, py_version),
            ),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description="stickers_core + powertools, pydantic, pillow, python-multipart (Lambda-platform wheels)",
        )
