"""API-side costs: cold import of the API function, and the create-job overhead over the raw AWS
calls it makes (DynamoDB ``put_item`` + SQS ``send_message``), plus the S3 put of finished stickers.

The AWS calls go to the embedded emulator of :class:`local_stack.stack.LocalStack` (``workers=0``)
on loopback, so they measure our code's overhead around boto3, not AWS latency.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

__all__ = ["cold_import", "create_job_overhead"]

ROOT = Path(__file__).resolve().parents[1]


def _spawn_ms(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(ROOT))
    return (time.perf_counter() - t0) * 1000


#: Ends the child right after the import: Lambda's init phase ends there, and the interpreter's
#: teardown (~150–200 ms with this many modules) never happens in a cold start.
EXIT_NOW = "; import os; os._exit(0)"


def cold_import(repeat: int = 5) -> dict[str, float]:
    """Median wall time of ``python -c "import functions.api.app; os._exit(0)"`` minus that of
    ``python -c "import os; os._exit(0)"`` (interpreter start-up), alternated ``repeat`` times;
    ``STICKERS_*`` unset. ``os._exit`` leaves out the interpreter's teardown (:data:`EXIT_NOW`).

    Returns:
        ``{"import_ms", "python_ms", "net_ms"}``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKERS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "core")])
    imports, bare = [], []
    for _ in range(repeat):
        imports.append(_spawn_ms("import functions.api.app" + EXIT_NOW, env))
        bare.append(_spawn_ms("pass" + EXIT_NOW, env))
    imp, py = statistics.median(imports), statistics.median(bare)
    return {"import_ms": imp, "python_ms": py, "net_ms": imp - py}


def create_job_overhead(repeat: int = 30, sticker_pngs: list[bytes] | None = None) -> dict[str, float]:
    """Warm ``StickerService.submit_text`` vs a raw ``put_item`` of the same item + ``send_message``
    of the same body, alternated ``repeat`` times after a warm-up; and the S3 put of ``sticker_pngs``.

    Returns:
        ``{"submit_ms", "raw_ms", "ratio", "s3_put_ms"}`` (medians; ``s3_put_ms`` is the sequential
        put of all given PNGs, absent when none are given).
    """
    import json

    from local_stack.stack import LocalStack
    from stickers_core import aws
    from stickers_core.service import StickerService
    from stickers_core.settings import Settings
    from stickers_core.storage import Storage

    with LocalStack(workers=0) as stack:
        settings: Settings = stack.settings  # type: ignore[assignment]
        service = StickerService(settings)
        table = aws.resource("dynamodb").Table(settings.table_name)
        sqs = aws.client("sqs")
        storage = Storage(settings.uploads_bucket, settings.stickers_bucket)

        def submit() -> float:
            t0 = time.perf_counter()
            service.submit_text("bench-owner", text="Good vibes", keywords=["sun"])
            return (time.perf_counter() - t0) * 1000

        template = service.submit_text("bench-owner", text="Good vibes", keywords=["sun"])
        item = template.to_item()

        def raw() -> float:
            job_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            table.put_item(Item={**item, "jobId": job_id}, ConditionExpression="attribute_not_exists(jobId)")
            sqs.send_message(QueueUrl=settings.queue_url, MessageBody=json.dumps({"jobId": job_id, "type": "text"}))
            return (time.perf_counter() - t0) * 1000

        for _ in range(5):
            submit(), raw()
        subs, raws = [], []
        for i in range(repeat):
            pair = (submit, raw) if i % 2 == 0 else (raw, submit)
            for fn in pair:
                (subs if fn is submit else raws).append(fn())
        out = {"submit_ms": statistics.median(subs), "raw_ms": statistics.median(raws)}
        out["ratio"] = out["submit_ms"] / out["raw_ms"]
        if sticker_pngs:
            puts = []
            for _ in range(max(3, repeat // 5)):
                t0 = time.perf_counter()
                for k, png in enumerate(sticker_pngs):
                    storage.put_sticker(f"stickers/bench/{uuid.uuid4()}/{k}.png", png)
                puts.append((time.perf_counter() - t0) * 1000)
            out["s3_put_ms"] = statistics.median(puts)
    return out
