"""The Lambda Python runtime's part of an execution environment, for running a function artifact here.

Run by path, never imported: ``python3.12 -I -S -B lambda_runtime_bootstrap.py --task-root DIR
--layer DIR --runtime-site DIR [--layer DIR …]``, by :class:`local_stack.lambda_runtime.LambdaArtifact`.
Standard library only: with ``-I -S`` the interpreter has nothing but its stdlib on ``sys.path``, and
this script then sets ``sys.path`` to what the Lambda python3.12 runtime has::

    /var/task                                  --task-root      the function's code asset
    /opt/python/lib/python3.12/site-packages   --layer          each layer, in order
    /opt/python
    /var/lang/lib/python3.12/site-packages     --runtime-site   the runtime's boto3 and its deps
    <stdlib>                                                    python312.zip, lib/python3.12, lib-dynload

(``-B``: no byte-code is written, as on Lambda's read-only ``/var/task`` and ``/opt``.)

Then, like the runtime's init phase, it imports the handler named by ``_HANDLER`` (``module.function``,
the module a dotted path such as ``functions.api.app``) — an import error is reported as
``Runtime.ImportModuleError`` like Lambda's — and answers on stdout, one JSON document a line:

    first line          {"type": "init", "ok": true, "initMs": 812.5}
                        or {"type": "init", "ok": false, "errorType": …, "errorMessage": …, "stackTrace": […]}
    per request line    {"type": "invoke", "ok": true, "payload": "<the result as Lambda serialises it>"}
                        or {"type": "invoke", "ok": false, "errorType": …, "errorMessage": …, "stackTrace": […]}

Requests come on stdin, one JSON document a line::

    {"type": "invoke", "event": {...}, "context": {"aws_request_id": …, "deadline_ms": <epoch ms>,
     "invoked_function_arn": …, "trace_id": "Root=…;Parent=…;Sampled=1" (optional)}}
    {"type": "modules"}   → {"type": "modules", "ok": true, "modules": {"name": "/path/of/its/file", …},
                             "sysPath": […], "stdlib": […]}
    {"type": "exit"}      → the process exits (so does end of input)

The handler's own output (``print``, Powertools' logger, C-level writes to fd 1) goes to stderr, as
everything a function writes goes to its log stream: file descriptor 1 is re-pointed at stderr before
the handler is imported, and the answers use a private duplicate of the original stdout. Each
invocation's log lines sit between the runtime's ``START RequestId: …`` and ``END RequestId: …`` lines,
followed by ``REPORT RequestId: …  Duration: … ms  Memory Size: … MB  Max Memory Used: … MB`` (the
process's peak resident memory), as in a CloudWatch log stream.

Results are serialised as the python3.12 runtime does (``json`` with ``ensure_ascii=False``,
``allow_nan=True``, ``Decimal`` as a number); a result that cannot be serialised is a
``Runtime.MarshalError``. Per invocation ``_X_AMZN_TRACE_ID`` is set from the request (X-Ray), like the
runtime does.
"""

import argparse
import decimal
import importlib
import json
import logging
import os
import resource
import sys
import sysconfig
import time
import traceback

#: The invocation in progress (the runtime's JSON log lines carry its id).
_current_request_id = ""


class LambdaContext:
    """The context object of one invocation, with the attributes of the python3.12 runtime's.

    ``memory_limit_in_mb``, ``function_name``, ``function_version``, ``log_group_name`` and
    ``log_stream_name`` come from the environment (``AWS_LAMBDA_*``), like the runtime's; the rest
    from the request.
    """

    def __init__(self, request):
        self.aws_request_id = request["aws_request_id"]
        self.invoked_function_arn = request.get("invoked_function_arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self):
        """Milliseconds left before the invocation's deadline (never negative)."""
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def __repr__(self):
        return f"LambdaContext([aws_request_id={self.aws_request_id},function_name={self.function_name}])"


def _peak_memory_mb():
    """The process's peak resident memory, MB: ``VmHWM`` (reset by exec; ``ru_maxrss`` is not: after
    fork + exec it starts at the parent's resident size)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _decimal(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(kind, exc, error_type=None, skip_frames=0):
    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[skip_frames:])
    return {
        "type": kind,
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": [f.rstrip("\n") for f in frames],
    }


class _JsonLogFormatter(logging.Formatter):
    """The runtime's JSON application log line (``LoggingConfig.LogFormat: JSON``)."""

    def format(self, record):
        doc = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", _current_request_id),
        }
        if record.exc_info:
            doc["stackTrace"] = self.formatException(record.exc_info).splitlines()
        return json.dumps(doc, ensure_ascii=False, default=str)


def _set_up_logging():
    """A root handler on stderr, as the runtime installs one (its level: ``AWS_LAMBDA_LOG_LEVEL``)."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        handler.setFormatter(_JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "")
    if level:
        root.setLevel(level.upper())


def _stdlib_paths():
    paths = [p for p in sys.path if p]  # -I -S: exactly the interpreter's own stdlib entries
    for key in ("stdlib", "platstdlib"):
        value = sysconfig.get_paths().get(key)
        if value and value not in paths:
            paths.append(value)
    return paths


def main(argv=None):
    """Set ``sys.path``, import the handler, answer requests until stdin ends or an ``exit`` request."""
    global _current_request_id
    parser = argparse.ArgumentParser(description="Lambda python runtime bootstrap (local)")
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--layer", action="append", default=[], help="a layer's root (holding python/)")
    parser.add_argument("--runtime-site", required=True)
    args = parser.parse_args(argv)

    # answers go to a private copy of stdout; fd 1 (and so print and Powertools' logger) to stderr
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", encoding="utf-8", buffering=1, closefd=False)

    def answer(doc):
        answers.write(json.dumps(doc, ensure_ascii=True) + "\n")
        answers.flush()

    stdlib = _stdlib_paths()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layer_paths = []
    for layer in args.layer:
        layer_paths += [os.path.join(layer, "python", "lib", version, "site-packages"), os.path.join(layer, "python")]
    sys.path[:] = [args.task_root, *layer_paths, args.runtime_site, *stdlib]
    os.chdir(args.task_root)  # the runtime's working directory is /var/task
    _set_up_logging()

    handler_name = os.environ.get("_HANDLER", "")
    started = time.perf_counter()
    try:
        module_name, _, function_name = handler_name.rpartition(".")
        if not module_name:
            raise ValueError(f"Bad handler '{handler_name}': not enough values to unpack (expected 2, got 1)")
        try:
            module = importlib.import_module(module_name.replace("/", "."))
        except Exception as exc:  # noqa: BLE001 - reported like the runtime's init error
            answer(_error("init", exc, "Runtime.ImportModuleError") | {"errorMessage": f"Unable to import module '{module_name}': {exc}"})
            return 1
        handler = getattr(module, function_name, None)
        if handler is None:
            raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    except Exception as exc:  # noqa: BLE001
        answer(_error("init", exc, "Runtime.HandlerNotFound"))
        return 1
    answer({"type": "init", "ok": True, "initMs": (time.perf_counter() - started) * 1000})

    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        request = json.loads(line)
        kind = request.get("type")
        if kind == "exit":
            return 0
        if kind == "modules":
            files = {}
            for name, mod in list(sys.modules.items()):
                path = getattr(mod, "__file__", None)
                if path:
                    files[name] = os.path.realpath(path)
            answer({"type": "modules", "ok": True, "modules": files, "sysPath": list(sys.path), "stdlib": stdlib})
            continue
        if kind != "invoke":
            answer({"type": str(kind), "ok": False, "errorType": "Runtime.UnknownRequest", "errorMessage": repr(kind), "stackTrace": []})
            continue
        context = LambdaContext(request["context"])
        trace_id = request["context"].get("trace_id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        _current_request_id = context.aws_request_id
        sys.stderr.write(f"START RequestId: {context.aws_request_id} Version: {context.function_version}\n")
        sys.stderr.flush()
        begun = time.perf_counter()
        try:
            result = handler(request["event"], context)
            try:
                outcome = {"type": "invoke", "ok": True, "payload": json.dumps(result, ensure_ascii=False, allow_nan=True, default=_decimal)}
            except (TypeError, ValueError) as exc:
                outcome = _error("invoke", exc, "Runtime.MarshalError") | {"errorMessage": f"Unable to marshal response: {exc}"}
        except Exception as exc:  # noqa: BLE001 - the function's error, returned to the invoker
            outcome = _error("invoke", exc, skip_frames=1)
        duration_ms = (time.perf_counter() - begun) * 1000
        sys.stdout.flush()
        max_rss_mb = _peak_memory_mb()
        sys.stderr.write(
            f"END RequestId: {context.aws_request_id}\n"
            f"REPORT RequestId: {context.aws_request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Memory Size: {context.memory_limit_in_mb} MB\tMax Memory Used: {max_rss_mb} MB\n"
        )
        sys.stderr.flush()
        answer(outcome)


if __name__ == "__main__":
    sys.exit(main())
