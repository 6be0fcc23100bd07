"""Run a Lambda function artifact the way the Lambda python3.12 runtime runs it, on this machine.

A :class:`LambdaArtifact` is one execution environment: a ``python3.12 -I -S -B`` process started on
``local_stack/lambda_runtime_bootstrap.py`` whose ``sys.path`` holds only the function's code asset
(Lambda's ``/var/task``), its layers (``/opt/python``), a folder with the runtime's boto3
(:func:`build_runtime_site`, pinned by ``functions/lambda-runtime.txt``) and the standard library — not
this project, not the virtual environment. Its environment is Lambda's (``AWS_LAMBDA_FUNCTION_NAME``,
``LAMBDA_TASK_ROOT``, ``_HANDLER``, ``AWS_REGION``, …) plus the function's own variables and whatever
stands for the execution role (dummy credentials, ``AWS_ENDPOINT_URL`` of the emulator). It is called
like a handler, ``artifact(event, context)``, so it can sit behind
:class:`local_stack.gateway.ApiGatewayEmulator`, and it answers :meth:`LambdaArtifact.modules`: the file
of every module the function has imported, to check that each lies in the asset, a layer, the
runtime or the stdlib (:meth:`LambdaArtifact.foreign_modules`).

Architecture: the layer of the stack is built for arm64. This module runs a *host-architecture twin*
of it (:func:`build_host_layer`): the same lock (``functions/requirements.txt``) installed by the same
bundling code (:func:`infra.bundling.build_layer_tree`) for this machine's architecture, so the
interpreter runs natively. ``tests/artifacts`` checks that the twin and the synthesized arm64 layer hold
the same distributions at the same versions and the same ``stickers_core`` files; what the twin cannot
show is a defect of an arm64 wheel itself (a broken aarch64 build of pillow or pydantic-core).

The alternative is QEMU user-mode emulation running an aarch64 CPython 3.12 on the synthesized layer
itself, which would also load the aarch64 extension modules (pydantic-core, pillow, wrapt). It was
not chosen because the interpreter cannot be had here: Debian bookworm does ship
``qemu-user-static`` (7.2), but its ``python3`` is 3.11 on every architecture (3.12 is not in
bookworm), PyPI has no prebuilt CPython (``portable-python`` compiles one from python.org sources,
which this network does not reach), and uv's interpreter downloads come from GitHub, also out of
reach. Had it been available, it would add the check that the arm64 wheels themselves import and
run; the price would be imports several times slower under emulation on a 2-core machine.

Example::

    site = build_runtime_site(interpreter)
    layer = build_host_layer(interpreter)
    with LambdaArtifact(code_dir, [layer], site, handler="functions.api.app.handler", function_name="api",
                        environment=env, aws_environment=aws_environ(endpoint), interpreter=interpreter) as api:
        result = api({"httpMethod": "GET", ...}, None)
        assert not api.foreign_modules()

Why one module of this size: the runner, the artifact builders it needs and the module-origin report form one stand-in for the Lambda runtime, used by the suite as a whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import queue
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
#: The bootstrap the artifact process runs (by path; it is never imported).
BOOTSTRAP: Final = Path(__file__).resolve().parent / "lambda_runtime_bootstrap.py"
#: What the Lambda python3.12 runtime provides (boto3, botocore and their dependencies), pinned.
RUNTIME_REQUIREMENTS: Final = REPO_ROOT / "functions" / "lambda-runtime.txt"
#: Where the runtime folders and the layer twins are cached (gitignored).
BUILD_DIR: Final = REPO_ROOT / "build"
#: The execution-environment init phase limit of Lambda, seconds (on-demand functions).
LAMBDA_INIT_TIMEOUT_S: Final = 10.0
#: Account and region of the emulated invocation ARNs.
ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"

_RECIPE_VERSION: Final = "1"
_ARCHITECTURES: Final = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class LambdaInitError(RuntimeError):
    """The execution environment did not initialise: the handler module failed to import, the handler
    is missing, or init did not finish in time.

    Attributes:
        error_type: Lambda's error type (``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``,
            ``Runtime.InitTimeout``, ``Runtime.ExitError``).
        error_message: its message; stack_trace: the formatted frames; logs: the process's last log lines.
    """

    def __init__(self, error_type: str, error_message: str, stack_trace: Sequence[str] = (), logs: Sequence[str] = ()) -> None:
        super().__init__(f"{error_type}: {error_message}" + (("\n--- log tail ---\n" + "\n".join(logs[-40:])) if logs else ""))
        self.error_type, self.error_message = error_type, error_message
        self.stack_trace, self.logs = list(stack_trace), list(logs)


class LambdaFunctionError(RuntimeError):
    """The handler raised (or returned something Lambda cannot serialise): Lambda's function error.

    Attributes:
        error_type: the exception's class name, or ``Runtime.MarshalError``.
        error_message: ``str(exception)``; stack_trace: the formatted frames (the handler's first).
    """

    def __init__(self, error_type: str, error_message: str, stack_trace: Sequence[str] = ()) -> None:
        super().__init__(f"{error_type}: {error_message}\n" + "".join(f"{line}\n" for line in stack_trace))
        self.error_type, self.error_message, self.stack_trace = error_type, error_message, list(stack_trace)


class LambdaTimeout(RuntimeError):
    """The invocation ran past its deadline; like Lambda, the execution environment was killed (the next
    invocation starts a new one, with a cold start)."""


@dataclass(frozen=True)
class InvocationReport:
    """The runtime's ``REPORT`` line of one invocation.

    Attributes:
        request_id: the invocation's id; duration_ms: the handler's wall time, ms;
        memory_size_mb: the function's memory size, MB; max_memory_used_mb: the execution
            environment's peak resident memory so far, MB (Lambda kills a function that exceeds its size).
    """

    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int

    @classmethod
    def parse(cls, line: str) -> InvocationReport | None:
        """The report of a ``REPORT RequestId: …`` line, or None when the line is not one."""
        match = re.match(
            r"REPORT RequestId: (\S+)\tDuration: ([\d.]+) ms\tMemory Size: (\d+) MB\tMax Memory Used: (\d+) MB", line
        )
        if match is None:
            return None
        return cls(match[1], float(match[2]), int(match[3]), int(match[4]))


def host_architecture() -> str:
    """This machine's architecture in Lambda's words: ``x86_64`` or ``arm64``.

    Raises:
        KeyError: a machine Lambda has no architecture for.
    """
    return _ARCHITECTURES[platform.machine().lower()]


def _manylinux_platforms(architecture: str) -> tuple[str, ...]:
    from infra.bundling import PLATFORMS

    return PLATFORMS[architecture]


#: Builds kept per cache folder (the newest; a twin is ~50 MB and every core change makes a new one).
_KEEP_BUILDS: Final = 3


def _prune(cache_dir: Path, keep: Path) -> None:
    """Remove all but the newest :data:`_KEEP_BUILDS` finished builds of `cache_dir` (never `keep`)."""
    builds = sorted((p for p in cache_dir.iterdir() if (p / ".complete").exists() and p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[_KEEP_BUILDS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _atomic_build(final: Path, build: Any) -> Path:
    """Run ``build(staging_dir)`` unless ``final/.complete`` exists, then move staging to `final`
    (and prune the cache folder's older builds)."""
    if (final / ".complete").exists():
        return final
    staging = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build(staging)
    (staging / ".complete").write_text(final.name)
    shutil.rmtree(final, ignore_errors=True)
    try:
        staging.rename(final)
    except OSError:  # another process finished the same build first
        shutil.rmtree(staging, ignore_errors=True)
    _prune(final.parent, final)
    return final


def build_runtime_site(interpreter: str | None, *, requirements: Path = RUNTIME_REQUIREMENTS, cache_dir: Path = BUILD_DIR / "lambda-runtime") -> Path:
    """The folder standing for the runtime's ``/var/lang/lib/python3.12/site-packages``: the pinned
    boto3, botocore and their dependencies (``requirements``, every distribution pinned, installed
    ``--no-deps`` as wheels for this machine), byte-compiled by `interpreter` when given (the runtime
    ships byte-code). Cached under `cache_dir`, keyed by the requirements' content.

    Raises:
        subprocess.CalledProcessError: pip failed (its output is on stderr).
    """
    from infra.bundling import compile_command

    arch = host_architecture()
    digest = hashlib.sha256(f"{_RECIPE_VERSION}|{arch}|pyc={interpreter is not None}|".encode() + requirements.read_bytes())

    def build(staging: Path) -> None:
        site = staging / "site-packages"
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-deps",
               "--no-warn-conflicts", "--no-warn-script-location", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", "3.12", "--target", str(site), "-r", str(requirements)]  # fmt: skip
        for platform_tag in _manylinux_platforms(arch):
            cmd += ["--platform", platform_tag]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise subprocess.CalledProcessError(done.returncode, cmd)
        shutil.rmtree(site / "bin", ignore_errors=True)
        if interpreter is not None:
            subprocess.run(compile_command(interpreter, site), capture_output=True, check=False)

    return _atomic_build(cache_dir / digest.hexdigest()[:32], build) / "site-packages"


def build_host_layer(interpreter: str | None, python_version: str = "3.12", *, cache_dir: Path = BUILD_DIR / "lambda-twin") -> Path:
    """The core layer built for this machine's architecture: the twin of the stack's arm64 layer (same
    lock, same bundling code, :func:`infra.bundling.build_layer_tree`), byte-compiled by `interpreter`.
    Returns the layer's root (it holds ``python/``). Cached under `cache_dir`, keyed by
    :func:`infra.bundling.layer_hash` (core sources, the lock, architecture, Python version).

    Raises:
        subprocess.CalledProcessError: pip failed.
    """
    from infra.bundling import build_layer_tree, layer_hash

    arch = host_architecture()
    key = layer_hash(arch, python_version, interpreter is not None)
    return _atomic_build(cache_dir / key[:32], lambda staging: build_layer_tree(staging, arch, python_version, interpreter))


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class LambdaArtifact:
    """One Lambda execution environment running a function artifact; callable as ``handler(event, context)``.

    Args:
        code_dir: the function's code asset (Lambda's ``/var/task``).
        layer_dirs: the layers' roots, each holding ``python/`` (Lambda's ``/opt``), in the function's order.
        runtime_site: the runtime's site-packages stand-in (:func:`build_runtime_site`).
        handler: ``module.function`` (the function's ``Handler``).
        function_name: the function's name; memory_mb: its memory size, MB; timeout_s: its timeout, seconds.
        environment: the function's environment variables (resolved values).
        aws_environment: what the execution role and this machine supply: credentials,
            ``AWS_ENDPOINT_URL`` of the emulator (:func:`local_stack.aws_emulator.aws_environ`). It may
            override the region.
        interpreter: a CPython 3.12 executable (:func:`infra.bundling.runtime_interpreter`).
        init_timeout_s: how long the init phase (the handler module's import) may take, seconds.
        log_format: ``JSON`` or ``Text`` (the function's ``LoggingConfig.LogFormat``).
        log_sink: where the function's log lines are echoed as they come (default: nowhere; the last
            2000 are kept in :attr:`logs` either way).
        xray: bind a loopback UDP port as the X-Ray daemon (``AWS_XRAY_DAEMON_ADDRESS``) and keep
            the segments the function sends in :attr:`xray_segments` (Lambda with active tracing).

    The process starts on :meth:`start` (or the first call) and stops on :meth:`stop`. Calls are
    serialised (one event at a time, like one execution environment); a call that times out kills the
    process and the next call starts a new one. Nothing of this process's environment is inherited.
    """

    def __init__(
        self,
        code_dir: Path,
        layer_dirs: Sequence[Path],
        runtime_site: Path,
        *,
        handler: str = "app.handler",
        function_name: str,
        memory_mb: int = 128,
        timeout_s: float = 3.0,
        environment: Mapping[str, str] | None = None,
        aws_environment: Mapping[str, str] | None = None,
        interpreter: str,
        init_timeout_s: float = LAMBDA_INIT_TIMEOUT_S,
        log_format: str = "JSON",
        log_sink: IO[str] | None = None,
        xray: bool = True,
    ) -> None:
        self.code_dir = Path(code_dir).resolve()
        self.layer_dirs = [Path(p).resolve() for p in layer_dirs]
        self.runtime_site = Path(runtime_site).resolve()
        self.handler_name, self.function_name = handler, function_name
        self.memory_mb, self.timeout_s = memory_mb, timeout_s
        self.environment = dict(environment or {})
        self.aws_environment = dict(aws_environment or {})
        self.interpreter = interpreter
        self.init_timeout_s = init_timeout_s
        self.log_format = log_format
        self.log_sink = log_sink
        self.logs: deque[str] = deque(maxlen=2000)
        self.xray_segments: list[dict[str, Any]] = []
        self.reports: list[InvocationReport] = []
        self._ended: deque[str] = deque(maxlen=256)
        self._ended_changed = threading.Condition()
        self.init_ms: float | None = None
        #: The process's ``sys.path`` and the interpreter's stdlib folders (known after :meth:`modules`).
        self.sys_path: list[str] = []
        self._stdlib: list[Path] | None = None
        self.cold_starts = 0
        self._xray_enabled = xray
        self._xray: socket.socket | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._sandbox = Path(tempfile.mkdtemp(prefix=f"lambda-{function_name}-"))
        self._closed = False

    # --- environment ------------------------------------------------------------------------------
    @property
    def function_arn(self) -> str:
        """The function's ARN (in the emulated account and region)."""
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def lambda_environment(self) -> dict[str, str]:
        """The process environment: Lambda's reserved variables, then the function's, then `aws_environment`."""
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{secrets.token_hex(16)}"
        env = {
            "PATH": os.pathsep.join([str(Path(self.interpreter).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_site),
            "_HANDLER": self.handler_name,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_LOG_FORMAT": self.log_format,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            # no profile files: the sandbox has none, and this machine's must not leak in
            "AWS_CONFIG_FILE": str(self._sandbox / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self._sandbox / "no-aws-credentials"),
        }
        if self.log_format.upper() == "JSON":
            env["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
        if self._xray is not None:
            port = self._xray.getsockname()[1]
            env.update({"AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}", "_AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1",
                        "_AWS_XRAY_DAEMON_PORT": str(port)})  # fmt: skip
        env.update(self.environment)
        env.update(self.aws_environment)
        return env

    # --- life cycle -----------------------------------------------------------------------------------
    def start(self) -> float:
        """Start the execution environment and run its init phase; returns the init time, ms.

        Raises:
            LambdaInitError: the handler did not import, or init took longer than `init_timeout_s`.
            RuntimeError: the artifact was stopped for good.
        """
        with self._lock:
            return self._start_locked()

    def _start_locked(self) -> float:
        if self._closed:
            raise RuntimeError(f"{self.function_name}: the artifact is stopped")
        if self._proc is not None and self._proc.poll() is None:
            assert self.init_ms is not None
            return self.init_ms
        if self._xray_enabled and self._xray is None:
            self._start_xray_sink()
        cmd = [self.interpreter, "-I", "-S", "-B", str(BOOTSTRAP), "--task-root", str(self.code_dir)]
        for layer in self.layer_dirs:
            cmd += ["--layer", str(layer)]
        cmd += ["--runtime-site", str(self.runtime_site)]
        self._answers = queue.Queue()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.lambda_environment(), cwd=str(self.code_dir), close_fds=True,
        )  # fmt: skip
        self._proc = proc
        self.cold_starts += 1
        answers = self._answers
        self._threads = [
            threading.Thread(target=self._read_answers, args=(proc, answers), name=f"{self.function_name}-out", daemon=True),
            threading.Thread(target=self._read_logs, args=(proc,), name=f"{self.function_name}-log", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        init = self._next_answer(self.init_timeout_s)
        if init is None or not init.get("ok"):
            exit_code = proc.poll()
            self._kill_locked()
            if init is None and exit_code is None:
                raise LambdaInitError("Runtime.InitTimeout", f"init did not finish within {self.init_timeout_s:.1f} s", logs=list(self.logs))
            if init is None:
                raise LambdaInitError("Runtime.ExitError", f"the process exited during init (code {exit_code})", logs=list(self.logs))
            raise LambdaInitError(init["errorType"], init["errorMessage"], init.get("stackTrace", ()), list(self.logs))
        self.init_ms = float(init["initMs"])
        return self.init_ms

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the execution environment (idempotent): ask the bootstrap to exit, kill it after `timeout_s`."""
        with self._lock:
            self._closed = True
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    assert proc.stdin is not None
                    proc.stdin.write(b'{"type": "exit"}\n')
                    proc.stdin.flush()
                    proc.stdin.close()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    pass
            self._kill_locked()
            if self._xray is not None:
                self._xray.close()
                self._xray = None
        shutil.rmtree(self._sandbox, ignore_errors=True)

    def _kill_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> LambdaArtifact:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- invocation -------------------------------------------------------------------------------------
    def invoke(self, event: Any, context: Any = None) -> Any:
        """Run the handler on `event` and return its result, as Lambda's synchronous invoke does.

        Args:
            event: the event (JSON-serialisable).
            context: optional invoker's context; its ``aws_request_id`` and
                ``get_remaining_time_in_millis()`` are used when present (the deadline is never
                later than the function's timeout).

        Raises:
            LambdaFunctionError: the handler raised, or its result cannot be serialised.
            LambdaTimeout: the handler ran past the deadline (the environment is killed).
            LambdaInitError: a (re)start failed.
        """
        request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        budget_ms = int(self.timeout_s * 1000)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            budget_ms = min(budget_ms, int(remaining()))
        deadline_ms = int(time.time() * 1000) + budget_ms
        trace_id = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=1"
        request = {
            "type": "invoke",
            "event": event,
            "context": {"aws_request_id": request_id, "deadline_ms": deadline_ms, "invoked_function_arn": self.function_arn,
                        "trace_id": trace_id},
        }  # fmt: skip
        line = (json.dumps(request) + "\n").encode()
        with self._lock:
            self._start_locked()
            answer = self._exchange_locked(line, budget_ms / 1000 + 1.0)
            if answer is None:
                self._kill_locked()
                raise LambdaTimeout(f"{request_id} Task timed out after {budget_ms / 1000:.2f} seconds")
        with self._ended_changed:  # the invocation's log lines are in (the two pipes are read apart)
            self._ended_changed.wait_for(lambda: request_id in self._ended, timeout=2.0)
        if not answer.get("ok"):
            raise LambdaFunctionError(answer["errorType"], answer["errorMessage"], answer.get("stackTrace", ()))
        return json.loads(answer["payload"])

    def __call__(self, event: Any, context: Any = None) -> Any:
        """:meth:`invoke`, so the artifact can be passed where a handler is expected."""
        return self.invoke(event, context)

    def modules(self) -> dict[str, Path]:
        """Every module the function's process has imported so far that has a file: name → real path.

        Raises:
            LambdaInitError: the environment could not be started.
            RuntimeError: the process did not answer within 10 s.
        """
        with self._lock:
            self._start_locked()
            answer = self._exchange_locked(b'{"type": "modules"}\n', 10.0)
        if answer is None:
            raise RuntimeError(f"{self.function_name}: no answer to the modules request")
        self._stdlib = [Path(p) for p in answer["stdlib"]]
        self.sys_path = list(answer["sysPath"])
        return {name: Path(path) for name, path in answer["modules"].items()}

    def allowed_roots(self) -> dict[str, list[Path]]:
        """Where the function's modules may come from: its code asset, its layers, the runtime (boto3 and
        the bootstrap itself) and the interpreter's stdlib (its ``site-packages`` excluded)."""
        if self._stdlib is None:
            self.modules()
        stdlib = self._stdlib or []
        return {
            "asset": [self.code_dir],
            "layer": [layer / "python" for layer in self.layer_dirs],
            "runtime": [self.runtime_site, BOOTSTRAP],
            "stdlib": [Path(p).resolve() for p in stdlib],
        }

    def module_origins(self) -> dict[str, tuple[str, Path]]:
        """Each imported module's origin: name → (``asset`` | ``layer`` | ``runtime`` | ``stdlib`` |
        ``FOREIGN``, path). A stdlib root's ``site-packages`` counts as foreign."""
        modules = self.modules()
        roots = self.allowed_roots()
        origins: dict[str, tuple[str, Path]] = {}
        for name, path in modules.items():
            origin = "FOREIGN"
            for kind in ("asset", "layer", "runtime", "stdlib"):
                for root in roots[kind]:
                    if _is_under(path, root) and not (kind == "stdlib" and any(p in ("site-packages", "dist-packages") for p in path.relative_to(root).parts)):
                        origin = kind
                        break
                if origin != "FOREIGN":
                    break
            origins[name] = (origin, path)
        return origins

    def foreign_modules(self) -> dict[str, Path]:
        """The imported modules whose file lies outside the asset, the layers, the runtime and the stdlib
        (empty when the artifact is self-contained, as it must be on Lambda)."""
        return {name: path for name, (origin, path) in self.module_origins().items() if origin == "FOREIGN"}

    # --- plumbing -----------------------------------------------------------------------------------------
    def _exchange_locked(self, line: bytes, timeout_s: float) -> dict[str, Any] | None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self._kill_locked()
            raise LambdaInitError("Runtime.ExitError", "the execution environment exited", logs=list(self.logs)) from None
        answer = self._next_answer(timeout_s)
        if answer is None and proc.poll() is not None:
            self._kill_locked()
            raise LambdaInitError("Runtime.ExitError", f"the execution environment exited (code {proc.returncode})", logs=list(self.logs))
        return answer

    def _next_answer(self, timeout_s: float) -> dict[str, Any] | None:
        try:
            return self._answers.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    @staticmethod
    def _read_answers(proc: subprocess.Popen[bytes], answers: queue.Queue[dict[str, Any] | None]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                answers.put(json.loads(raw))
            except ValueError:
                continue
        answers.put(None)

    def _read_logs(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self.logs.append(text)
            if text.startswith("REPORT RequestId: "):
                report = InvocationReport.parse(text)
                if report is not None:
                    self.reports.append(report)
                with self._ended_changed:
                    self._ended.append(text.split()[2])
                    self._ended_changed.notify_all()
            if self.log_sink is not None:
                with contextlib.suppress(Exception):
                    self.log_sink.write(f"[{self.function_name}] {text}\n")

    def _start_xray_sink(self) -> None:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        self._xray = sink

        def drain() -> None:
            while True:
                try:
                    data = sink.recv(65536)
                except OSError:
                    return
                header, _, body = data.partition(b"\n")
                with contextlib.suppress(ValueError):
                    if len(self.xray_segments) < 10_000:
                        self.xray_segments.append(json.loads(body))

        threading.Thread(target=drain, name=f"{self.function_name}-xray", daemon=True).start()
