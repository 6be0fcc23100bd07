"""The core Lambda layer, bundled WITHOUT Docker; and the functions' code assets.

Each function's code asset (:func:`stage_function`) is the ``functions`` package holding that one
function, with the handler ``functions.<folder>.app.handler``: its modules import each other as
``functions.<folder>.…`` on Lambda as they do in this repository.

The layer asset holds ``python/stickers_core/…`` and the third-party packages of
``functions/requirements.txt``, pip-installed as manylinux wheels for the Lambda platform and
architecture (``pip install --platform manylinux2014_aarch64 --only-binary=:all: --no-deps …``). That
works on any machine with pip, so ``cdk synth`` needs no Docker engine; the Docker image given to
:class:`aws_cdk.BundlingOptions` is only the fallback CDK uses when local bundling declines.

``functions/requirements.txt`` is a lock (``functions/lock.sh`` writes it with uv): every distribution
pinned, transitive ones included, and none of those the Lambda runtime already provides (boto3,
botocore, s3transfer, urllib3, python-dateutil, six; ``functions/lambda-runtime.txt``). pip installs it
with ``--no-deps``, so the layer holds exactly the lock: nothing pulls botocore back in (aws-xray-sdk
depends on it), and a botocore in ``/opt/python`` — which comes before the runtime's on ``sys.path`` —
can never shadow the runtime's and break its boto3. The same lock and this same code build the
host-architecture twin that ``tests/artifacts`` runs (``local_stack/lambda_runtime.py``).

Bundles are cached under ``build/layer-cache/<hash>`` (the hash covers the core package's files,
the requirements file, the platform and the Python version), so repeated synths copy instead of
reinstalling.

The layer ships byte-code: Lambda mounts layers read-only, so a layer without ``__pycache__``
makes every cold start compile every imported module from source (``import functions.api.app``
from sources only: ~1.8 s on the 2-core dev box vs ~0.7 s from byte-code;
``benchmarks/layer_cold_import.py``). The files are compiled by an interpreter of the runtime's
version (byte-code is version-specific, not platform-specific) with ``unchecked-hash`` invalidation,
so the zip's timestamps do not matter. Where no such interpreter is found (``python3.12`` on PATH,
a pyenv install, or ``STICKERS_LAYER_PYTHON``), the layer is built without byte-code and a warning
is printed.
"""

from __future__ import annotations

import glob
import hashlib
import os
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
FUNCTIONS_DIR = REPO_ROOT / "functions"
REQUIREMENTS_FILE = FUNCTIONS_DIR / "requirements.txt"
CACHE_DIR = REPO_ROOT / "build" / "layer-cache"
#: Where the functions' code assets are staged (:func:`stage_function`).
FUNCTION_ASSETS_DIR = REPO_ROOT / "build" / "function-assets"

#: Bumped when the bundling recipe changes, so old cached bundles are not reused.
_RECIPE_VERSION = "3"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")

#: pip platform tags per Lambda architecture (Lambda's Amazon Linux 2023 has glibc 2.34).
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def runtime_interpreter(python_version: str) -> str | None:
    """A CPython executable of ``python_version`` (e.g. ``3.12``) to byte-compile the layer with.

    Tried in order: ``STICKERS_LAYER_PYTHON``, this interpreter when its version matches,
    ``python<version>`` on PATH, pyenv's ``~/.pyenv/versions/<version>.*``. Each candidate is run
    once to check its version.

    Returns:
        The executable's path, or None when none of the candidates is that version.
    """
    candidates = [os.environ.get("STICKERS_LAYER_PYTHON", "")]
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python_version:
        candidates.append(sys.executable)
    candidates.append(shutil.which(f"python{python_version}") or "")
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{python_version}.*/bin/python{python_version}"), reverse=True)
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0 and done.stdout.strip() == python_version:
            return candidate
    return None


def compile_command(interpreter: str, site: Path) -> list[str]:
    """``compileall`` of the layer's ``python/`` folder: ``unchecked-hash`` byte-code (valid whatever
    the files' timestamps), tracebacks naming ``/opt/python/…`` (where Lambda mounts the layer)."""
    return [
        interpreter, "-m", "compileall", "-q", "-j", "0",
        "--invalidation-mode", "unchecked-hash",
        "-s", str(site), "-p", "/opt/python",
        str(site),
    ]  # fmt: skip


def layer_hash(architecture: str, python_version: str, byte_code: bool = True) -> str:
    """Hash of everything that goes into the layer: core sources, requirements, target platform,
    and whether the layer carries byte-code."""
    digest = hashlib.sha256(f"{_RECIPE_VERSION}|{architecture}|{python_version}|pyc={byte_code}".encode())
    for path in _files(CORE_PACKAGE_DIR) + [REQUIREMENTS_FILE]:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def pip_install_command(target: Path, architecture: str, python_version: str) -> list[str]:
    """The pip command that installs the locked requirements as Lambda-platform wheels into `target`
    (``--no-deps``: the lock lists every distribution, and only those go into the layer)."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-deps"]
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


def build_layer_tree(output_dir: Path, architecture: str, python_version: str, interpreter: str | None = None) -> None:
    """Write the layer's content (``python/…``) into `output_dir`, through the on-disk cache.

    Args:
        output_dir: the asset folder.
        architecture: ``arm64`` or ``x86_64``; python_version: e.g. ``3.12``.
        interpreter: a Python of that version to byte-compile with (:func:`runtime_interpreter`);
            None: no byte-code.

    Raises:
        subprocess.CalledProcessError: pip failed.
    """
    key = layer_hash(architecture, python_version, interpreter is not None)
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
        if interpreter is not None:
            compiled = subprocess.run(compile_command(interpreter, site), capture_output=True, text=True, check=False)
            if compiled.returncode != 0:  # a file that does not compile stays source-only; the rest is kept
                sys.stderr.write(f"[stickers] compileall reported errors:\n{compiled.stdout[-2000:]}")
        (staging / ".complete").write_text(key)
        shutil.rmtree(cached, ignore_errors=True)
        staging.rename(cached)
    shutil.copytree(cached / "python", output_dir / "python", dirs_exist_ok=True)


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    """CDK local bundling: pip-installs Lambda-platform wheels on this machine (no Docker)."""

    def __init__(self, architecture: str, python_version: str, interpreter: str | None) -> None:
        self.architecture = architecture
        self.python_version = python_version
        self.interpreter = interpreter

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:  # noqa: ARG002
        """Bundle into `output_dir`; False (so CDK falls back to Docker) when pip cannot."""
        try:
            build_layer_tree(Path(output_dir), self.architecture, self.python_version, self.interpreter)
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
        interpreter = runtime_interpreter(py_version)
        if interpreter is None:
            print(f"[stickers] no Python {py_version} found to byte-compile the layer with (set STICKERS_LAYER_PYTHON):"
                  " the layer ships sources only, and cold starts compile them", file=sys.stderr)  # fmt: skip
        self.asset_hash = layer_hash(arch, py_version, interpreter is not None)
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
                    "pip install --no-compile --no-deps -r functions/requirements.txt -t /asset-output/python"
                    " && cp -r layers/core/stickers_core /asset-output/python/"
                    " && (python -m compileall -q --invalidation-mode unchecked-hash -s /asset-output/python"
                    " -p /opt/python /asset-output/python || true)",
                ],
                local=LocalPipBundling(arch, py_version, interpreter),
            ),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description="stickers_core + powertools, pydantic, pillow, python-multipart, httpx (functions/requirements.txt lock; Lambda-platform wheels)",
        )


# --- the functions' code assets ---------------------------------------------------------------------
def function_handler(folder: str) -> str:
    """The Lambda handler of ``functions/<folder>/app.py`` in its staged asset: ``functions.<folder>.app.handler``."""
    return f"functions.{folder}.app.handler"


def _function_files(folder: str) -> list[Path]:
    """The files of one function's code asset: ``functions/__init__.py`` and ``functions/<folder>/**``
    (no byte-code, no tests)."""
    package = FUNCTIONS_DIR / folder
    if not (package / "app.py").is_file():
        raise FileNotFoundError(f"{package / 'app.py'} not found")
    own = [p for p in _files(package) if not {"tests", ".pytest_cache"} & set(p.relative_to(package).parts)]
    return [FUNCTIONS_DIR / "__init__.py", *own]


def stage_function(folder: str) -> Path:
    """The code asset of the function of ``functions/<folder>``: a folder holding the ``functions``
    package with that one function in it, laid out as Lambda's ``/var/task``::

        functions/__init__.py
        functions/<folder>/__init__.py, app.py, …

    so its handler is ``functions.<folder>.app.handler`` (:func:`function_handler`) and its modules
    import each other as ``functions.<folder>.…`` on Lambda exactly as they do in this repository (and
    no other function's code ships with it). Staged under ``build/function-assets/<folder>-<hash of
    the files>``, written once per content (a partial folder renamed into place).
    """
    files = _function_files(folder)
    digest = hashlib.sha256(f"{_RECIPE_VERSION}|{folder}".encode())
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    final = FUNCTION_ASSETS_DIR / f"{folder}-{digest.hexdigest()[:32]}"
    if final.is_dir():
        return final
    staging = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    for path in files:
        target = staging / "functions" / path.relative_to(FUNCTIONS_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    try:
        staging.rename(final)
    except OSError:  # another process staged the same content first
        shutil.rmtree(staging, ignore_errors=True)
    return final
