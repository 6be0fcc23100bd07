"""`stickers`: run the embedded local stack, the GPU worker, and make stickers from the command line."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from local_stack.client import ApiCallError, StickerClient, websocket_url_for
from local_stack.event_source import DEFAULT_BATCH_SIZE, DEFAULT_MAX_CONCURRENCY
from stickers_core import limits
from stickers_core.settings import DEFAULT_API_KEY, DEFAULT_API_URL, ENV_API_KEY, ENV_API_URL, ENV_WS_URL, WORKER_HOST_ENV
from stickers_core.styles import IMAGE_STYLE_NAMES, TEXT_STYLE_NAMES

app = typer.Typer(help="Die-cut sticker generation: local stack, GPU worker and client.", no_args_is_help=True, pretty_exceptions_show_locals=False)
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)

DEMO_TEXT = "Happy Birthday!"
DEMO_KEYWORDS = ("party", "cake")

try:  # the ops commands need boto3's API Gateway client only; mounted when present
    from local_stack.keys_cli import keys_app

    app.add_typer(keys_app, name="keys", help="Manage API keys of a deployed stack (API Gateway usage plan).")
except ImportError:  # pragma: no cover - keys_cli ships with the project
    pass


def _styles(value: str | None, allowed: tuple[str, ...]) -> list[str]:
    names = [s.strip() for s in (value or "").split(",") if s.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise typer.BadParameter(f"unknown style {unknown[0]!r}; choose from {', '.join(allowed)}")
    return names


def _wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@app.command()
def local(
    host: Annotated[str, typer.Option(help="Interface of the API front.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the API front (0: any free port).")] = 3000,
    cdn_port: Annotated[int, typer.Option(help="Port of the CDN front: the web page and the stickers, another origin than the API as on AWS (0: any free port).")] = 3001,
    workers: Annotated[int, typer.Option(help="In-process GPU-service workers (0: attach them with `stickers worker --attach`); none with --inference lambda.")] = 1,
    inference: Annotated[str, typer.Option(help="What consumes the jobs queue: worker (in-process GPU-service workers), lambda (the CPU inference Lambda handler behind an emulated SQS event source mapping) or hybrid (both).")] = "worker",
    lambda_batch_size: Annotated[int, typer.Option(min=1, max=10, help="--inference lambda|hybrid: records per invocation (the mapping's batch size).")] = DEFAULT_BATCH_SIZE,
    lambda_max_concurrency: Annotated[int, typer.Option(min=1, max=1000, help="--inference lambda|hybrid: concurrent invocations at most (the mapping's maximum concurrency).")] = DEFAULT_MAX_CONCURRENCY,
    visibility_timeout: Annotated[int, typer.Option(help="SQS visibility timeout of the jobs queue, seconds.")] = limits.VISIBILITY_TIMEOUT_S,
    job_timeout: Annotated[float, typer.Option(help="Time budget of one attempt, seconds.")] = limits.JOB_TIMEOUT_S,
    access_log: Annotated[bool, typer.Option(help="Log every HTTP request.")] = True,
) -> None:
    """Run the embedded stack (emulated DynamoDB/SQS/S3, API front, CDN front, workers or the inference Lambda) until Ctrl-C."""
    from local_stack.stack import INFERENCE_MODES, LocalStack

    if inference not in INFERENCE_MODES:
        raise typer.BadParameter(f"unknown inference {inference!r}; choose from {', '.join(INFERENCE_MODES)}", param_hint="--inference")
    stack = LocalStack(
        host=host, port=port, cdn_port=cdn_port, workers=workers, visibility_timeout_s=visibility_timeout, job_timeout_s=job_timeout, access_log=access_log,
        inference=inference, lambda_batch_size=lambda_batch_size, lambda_max_concurrency=lambda_max_concurrency,
    )  # fmt: skip
    try:
        url = stack.start()
    except OSError as exc:
        err.print(f"[red]cannot start on {host}:{port}/{cdn_port}: {exc.strerror or exc}[/red] (try --port 0 --cdn-port 0)")
        raise typer.Exit(1) from None
    console.print(f"[bold green]Sticker API[/bold green] on {url}/v1   emulated AWS {stack.aws.endpoint_url}")
    console.print(f"[bold green]Live progress[/bold green] on {stack.ws_url}?key=<API key>")
    console.print(f"[bold green]Web page[/bold green] on {stack.cdn_url}/   (CDN: stickers under {stack.cdn_url}/stickers/)")
    for key, key_id in stack.api_keys.items():
        console.print(f"  API key [bold]{key}[/bold] (id {key_id})")
    if inference in ("worker", "hybrid"):
        console.print(f"  workers: {workers} in-process" + ("" if workers else f"; attach with: stickers worker --attach {url}"))
    if inference in ("lambda", "hybrid"):
        console.print(f"  inference Lambda: functions.inference.app.handler behind an emulated SQS event source mapping "
                      f"(batch size {lambda_batch_size}, maximum concurrency {lambda_max_concurrency}; cold init at the first job)")  # fmt: skip
    console.print("Ctrl-C stops it.")
    try:
        _wait_for_stop()
    finally:
        console.print("stopping…")
        stack.stop()


@app.command()
def worker(
    attach: Annotated[str | None, typer.Option(help="Attach to a running `stickers local` at this URL.")] = None,
    threads: Annotated[int, typer.Option(help="Consumer threads in this process (one model session shared).")] = 1,
    log_level: Annotated[str, typer.Option(help="Log level of the JSON logs.")] = "INFO",
    receive_wait: Annotated[int, typer.Option(min=0, max=20, help="SQS long-poll wait, seconds (an idle worker notices SIGTERM within it).")] = limits.RECEIVE_WAIT_S,
) -> None:
    """Run the GPU service's consumer, configured by environment variables: the container runs the same
    code (`python -m gpu_service`, gpu_service/entry.py), which takes these options as STICKERS_WORKER_THREADS,
    STICKERS_LOG_LEVEL and STICKERS_RECEIVE_WAIT_S."""
    from stickers_core.settings import Settings

    bedrock_session = None
    if attach:
        import httpx

        config: dict = {}
        deadline = time.monotonic() + 30  # the stack may still be starting
        problem = "no answer"
        while "env" not in config:
            if time.monotonic() > deadline:
                err.print(f"[red]cannot attach to {attach}: {problem}[/red]")
                raise typer.Exit(1)
            try:
                config = httpx.get(f"{attach.rstrip('/')}/_local/config", timeout=10).json()
                problem = "the stack is not ready"
            except (httpx.HTTPError, ValueError) as exc:
                problem = str(exc) or type(exc).__name__
            if "env" not in config:
                time.sleep(0.5)
        # The stop timeout and the execution provider belong to the worker's host (ECS gives each task
        # its own): a value set in this process's environment wins over the stack's.
        keep = WORKER_HOST_ENV & set(os.environ)
        # prompt jobs: this machine's real AWS credentials, resolved before the stack's dummy ones replace them
        if Settings.from_env(config["env"]).generator == "bedrock":
            from local_stack.stack import real_aws_session

            bedrock_session = real_aws_session("prompt jobs taken by this worker fail (GENERATION_UNAVAILABLE is not retried)")
        os.environ.update({k: v for k, v in config["env"].items() if k not in keep})
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
    from gpu_service.entry import run_worker

    settings = Settings.from_env()
    if not settings.queue_url:
        err.print("[red]STICKERS_QUEUE_URL is not set[/red] (or use --attach URL)")
        raise typer.Exit(2)
    generator = None
    if bedrock_session is not None:
        from gpu_service.generation import BedrockGenerator

        generator = BedrockGenerator.from_settings(settings, session=bedrock_session)
    elif attach and settings.generator == "bedrock":
        settings = settings.model_copy(update={"generator": "none"})  # no credentials: never sign with the emulator's dummies
    code = run_worker(
        settings, threads=threads, receive_wait_s=receive_wait, log_level=log_level, announce=lambda line: err.print(line, markup=False), generator=generator
    )
    if code:
        raise typer.Exit(code)


PRESETS = ("whatsapp", "telegram")


def _preset(value: str | None) -> str | None:
    if value is not None and value not in PRESETS:
        raise typer.BadParameter(f"unknown preset {value!r}; choose from {', '.join(PRESETS)}")
    return value


@app.command()
def generate(
    image: Annotated[Path | None, typer.Argument(help="Photo to turn into stickers (JPEG, PNG, WebP, GIF; over 4 MB it goes through a presigned S3 upload).", exists=True, dir_okay=False)] = None,
    text: Annotated[str | None, typer.Option(help="Text for typographic stickers (instead of a photo).")] = None,
    prompt: Annotated[str | None, typer.Option(help="A prompt an image model draws, then cut into stickers (instead of a photo; POST /v1/stickers/prompt).")] = None,
    negative_prompt: Annotated[str | None, typer.Option(help="With --prompt: what not to draw.")] = None,
    reference: Annotated[list[Path] | None, typer.Option("--reference", help="With --prompt: a photo the picture should resemble (repeatable, up to 3).", exists=True, dir_okay=False)] = None,
    seed: Annotated[int | None, typer.Option(help="With --prompt: the image model's seed (same prompt and seed, same picture).")] = None,
    keyword: Annotated[list[str] | None, typer.Option("--keyword", "-k", help="A keyword (repeatable).")] = None,
    styles: Annotated[str | None, typer.Option(help="Comma-separated styles.")] = None,
    count: Annotated[int | None, typer.Option(help="Number of stickers, 1–8.")] = None,
    preset: Annotated[str | None, typer.Option(help="Messenger preset: whatsapp (512² WebP ≤ 100 KB) or telegram (512 px PNG); it decides size and format.")] = None,
    method: Annotated[str | None, typer.Option(help="Detail of the drawn and painted styles and cartoon: basic, advanced (default) or artistic.")] = None,
    format_: Annotated[str | None, typer.Option("--format", help="Sticker encoding: png (default) or webp (not with --preset).")] = None,
    size: Annotated[int | None, typer.Option(help="Longest side of every sticker, 128–1024 px (default 512; not with --preset).")] = None,
    rotate: Annotated[float | None, typer.Option(help="Rotate the subject, −180…180 degrees counter-clockwise.")] = None,
    watermark: Annotated[str | None, typer.Option(help="Text (1–40 characters) drawn small in a corner of every sticker.")] = None,
    watermark_opacity: Annotated[float | None, typer.Option(help="Opacity of the watermark, 0.1–1.0 (default 0.5).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the stickers.")] = Path("stickers-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the final status document as JSON (instead of the file paths).")] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the first sticker when done (when this machine can).")] = False,
    api_url: Annotated[str, typer.Option(envvar=ENV_API_URL, help="API base URL.")] = DEFAULT_API_URL,
    api_key: Annotated[str, typer.Option(envvar=ENV_API_KEY, help="API key.")] = DEFAULT_API_KEY,
    ws_url: Annotated[str, typer.Option(envvar=ENV_WS_URL, help="WebSocket URL for live progress (the WebSocketUrl output on AWS; default: the local stack's /ws for an API on loopback, else polling).")] = "",
) -> None:
    """Submit a photo, a text or a prompt, follow the job's progress (live over the WebSocket when there is one, else by polling), download the stickers."""
    if sum((image is not None, text is not None or bool(keyword), prompt is not None)) != 1:
        err.print("[red]give one of an IMAGE, --text/--keyword or --prompt[/red]")
        raise typer.Exit(2)
    generation = {"prompt": prompt, "negative_prompt": negative_prompt, "references": [p.read_bytes() for p in reference or []], "seed": seed} if prompt is not None else None
    with StickerClient(api_url, api_key, ws_url=websocket_url_for(api_url, ws_url)) as client:
        try:
            options = {"method": method, "format": format_, "size": size, "rotate": rotate, "watermark": watermark, "watermark_opacity": watermark_opacity}
            doc, paths = _run_job_doc(
                client, image=image, text=text, keywords=keyword or [], styles=styles, count=count, out=out, preset=_preset(preset), options=options, generation=generation
            )
        except (ApiCallError, TimeoutError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(doc))
    else:
        for p in paths:
            console.print(str(p))
    if open_ and paths:
        _open(paths[0])


def _open(path: Path) -> None:
    """Open a file with the desktop's viewer when there is one; silently nothing otherwise."""
    import webbrowser

    try:
        if not webbrowser.open(path.resolve().as_uri()):
            err.print(f"(no viewer to open {path})")
    except Exception:  # noqa: BLE001 - opening is a convenience only
        err.print(f"(could not open {path})")


def _run_job(client: StickerClient, *, image: Path | None, text: str | None, keywords: list[str], styles: str | None, count: int | None, out: Path) -> list[Path]:
    return _run_job_doc(client, image=image, text=text, keywords=keywords, styles=styles, count=count, out=out)[1]


def _run_job_doc(
    client: StickerClient, *, image: Path | None, text: str | None, keywords: list[str], styles: str | None, count: int | None, out: Path, preset: str | None = None,
    options: dict | None = None, generation: dict | None = None,
) -> tuple[dict, list[Path]]:
    """Submit, follow with a progress bar (stderr), download; returns (final status document, files).
    `options`: the job's ``method`` and output options (:data:`local_stack.client.OPTION_FIELDS`), the
    API validates them; the stickers are saved under their names on the CDN (``.webp`` when WebP)."""
    options = options or {}
    if generation is not None:  # POST /v1/stickers/prompt: prompt, negative_prompt, references, seed
        data = client.submit_prompt(**generation, styles=_styles(styles, IMAGE_STYLE_NAMES), count=count, preset=preset, **options)
        label = repr(generation["prompt"])
    elif image is not None:
        data = client.submit_image(image.read_bytes(), image.name, _styles(styles, IMAGE_STYLE_NAMES), count, preset, **options)
        label = image.name
    else:
        data = client.submit_text(text, keywords, _styles(styles, TEXT_STYLE_NAMES), count, preset, **options)
        label = repr(text or " ".join(keywords))
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=err, transient=False) as bar:
        task = bar.add_task(f"{label} → job {data['jobId'][:8]}", total=100, status="queued")
        doc = client.wait(data["jobId"], lambda d: bar.update(task, completed=d["progress"], status=d["status"]))
    if doc["status"] == "failed":
        raise ApiCallError(0, f"job {doc['jobId']} failed: {doc.get('error')}", doc.get("code"))
    return doc, client.download(doc, out)


# --- stickers jobs list|show|delete --------------------------------------------------------------------
jobs_app = typer.Typer(help="List, show and delete your jobs (GET/DELETE /v1/jobs).", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
# the client's settings (stickers_core.settings.ClientSettings): typer reads the variables, an option wins
ApiUrl = Annotated[str, typer.Option(envvar=ENV_API_URL, help="API base URL.")]
ApiKey = Annotated[str, typer.Option(envvar=ENV_API_KEY, help="API key.")]


def _jobs_call(api_url: str, api_key: str, fn):  # noqa: ANN001, ANN202
    with StickerClient(api_url, api_key) as client:
        try:
            return fn(client)
        except ApiCallError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page.")] = 20,
    next_token: Annotated[str | None, typer.Option(help="Page token from a previous listing.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's answer as JSON.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = DEFAULT_API_KEY,
) -> None:
    """The caller's jobs, newest first."""
    page = _jobs_call(api_url, api_key, lambda c: c.list_jobs(limit, next_token))
    if as_json:
        console.print_json(json.dumps(page))
        return
    from rich.table import Column, Table

    table = Table("type", "status", "progress", "stickers", "created")
    table.columns.insert(0, Column("job", no_wrap=True, min_width=36))
    for doc in page["jobs"]:
        table.add_row(doc["jobId"], doc["type"], doc["status"], f"{doc['progress']}%", str(len(doc["stickers"])), doc["createdAt"][:19])
    console.print(table)
    if page.get("nextToken"):
        console.print(f"more: --next-token {page['nextToken']}")


@jobs_app.command("show")
def jobs_show(job_id: Annotated[str, typer.Argument(help="Job id.")], api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = DEFAULT_API_KEY) -> None:
    """One job's status document, as JSON."""
    console.print_json(json.dumps(_jobs_call(api_url, api_key, lambda c: c.job(job_id))))


@jobs_app.command("delete")
def jobs_delete(job_id: Annotated[str, typer.Argument(help="Job id.")], api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = DEFAULT_API_KEY) -> None:
    """Delete a job, its photo and its stickers (refused while the job is active)."""
    _jobs_call(api_url, api_key, lambda c: c.delete_job(job_id))
    console.print(f"deleted {job_id}")


@app.command()
def render(
    image: Annotated[Path, typer.Argument(help="Photo to render.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option(help="Folder for the stickers.")] = Path("stickers-out"),
    styles: Annotated[str | None, typer.Option(help="Comma-separated styles (default: the default set).")] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Render N times in one process (stickers written once); for timing.")] = 1,
) -> None:
    """Run the sticker pipeline in-process on one photo: no AWS, no HTTP."""
    from gpu_service.pipeline import StickerPipeline
    from gpu_service.pipeline.pipeline import decode_for_styles
    from stickers_core.errors import ValidationFailed
    from stickers_core.styles import DEFAULT_IMAGE_STYLES

    names = _styles(styles, IMAGE_STYLE_NAMES) or list(DEFAULT_IMAGE_STYLES)
    data = image.read_bytes()
    pipeline = StickerPipeline()
    t0 = time.perf_counter()
    for _ in range(repeat):  # each round is the worker's per-photo work: decode, model, styles, PNGs
        try:
            photo, _ = decode_for_styles(data, names)
        except ValidationFailed as exc:
            err.print(f"[red]{exc.code}:[/red] {exc.message}")
            raise typer.Exit(1) from None
        stickers = pipeline.render_image(photo, names)
    elapsed = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    for s in stickers:
        path = out / f"{image.stem}-{s.index}-{s.style}.png"
        path.write_bytes(s.png)
        console.print(str(path))
    err.print(f"{repeat} render(s) of {len(names)} sticker(s): {elapsed / repeat * 1000:.0f} ms each")


@app.command("prepare-model")
def prepare_model() -> None:
    """Load the segmentation models this machine's jobs will use, building the int8 u2netp first
    where it is used and not cached yet (~15 s once per machine; `./dev` runs this at install)."""
    from gpu_service.pipeline import StickerPipeline

    pipeline = StickerPipeline()
    for label, styles in (("die-cut jobs", ["classic"]), ("cutout jobs", ["cutout"])):
        model = pipeline.model_for(styles)
        console.print(f"{label}: {model.name} {model.quant} ({', '.join(model.providers)}) {model.path}")


@app.command()
def demo(
    image: Annotated[Path | None, typer.Argument(help="Photo (default: scikit-image's sample photo of a cat).", exists=True, dir_okay=False)] = None,
    out: Annotated[Path, typer.Option(help="Folder for the stickers.")] = Path("stickers-demo"),
) -> None:
    """Boot the embedded stack on a free port, make stickers from a photo and a text over HTTP, stop."""
    from local_stack.stack import DEFAULT_API_KEY, LocalStack

    photo = image or default_demo_photo()
    t0 = time.perf_counter()
    with LocalStack(port=0, workers=1, api_keys={DEFAULT_API_KEY: "demo"}) as stack:
        console.print(f"embedded stack up on {stack.url} in {time.perf_counter() - t0:.1f} s")
        with StickerClient(stack.url, DEFAULT_API_KEY) as client:
            try:
                paths = _run_job(client, image=photo, text=None, keywords=[], styles=None, count=None, out=out)
                paths += _run_job(client, image=None, text=DEMO_TEXT, keywords=list(DEMO_KEYWORDS), styles=None, count=None, out=out)
            except (ApiCallError, TimeoutError) as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(1) from None
    for p in paths:
        console.print(str(p))
    console.print(f"[bold green]{len(paths)} stickers[/bold green] in {out.resolve()} ({time.perf_counter() - t0:.1f} s in all)")


def default_demo_photo() -> Path:
    """A real photo that an installed package ships: scikit-image's ``chelsea.png`` (a cat)."""
    import skimage.data

    return Path(skimage.data.__file__).resolve().parent / "chelsea.png"


@app.command()
def styles() -> None:
    """List the sticker styles."""
    from stickers_core.styles import catalogue

    console.print_json(json.dumps(catalogue()))


if __name__ == "__main__":
    app()
