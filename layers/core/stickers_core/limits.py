"""Limits, defaults and resource names shared by the CDK stack, the local stack and the code.

Defined once here so that what `cdk deploy` creates and what the embedded local stack emulates
cannot drift apart (docs/design.md, "Principles").
"""

from __future__ import annotations

from typing import Final

# --- job lifecycle -------------------------------------------------------------------------------
#: Receives of one SQS message before SQS moves it to the dead-letter queue (redrive maxReceiveCount).
MAX_ATTEMPTS: Final = 3
#: Wall-clock budget of one attempt, in seconds; the worker aborts and lets SQS retry past it.
JOB_TIMEOUT_S: Final = 300
#: SQS visibility timeout of the jobs queue, in seconds. Above the job timeout (AWS guidance) so a
#: message never reappears while an attempt that is still within its budget is running.
VISIBILITY_TIMEOUT_S: Final = 360
#: How long a worker waits on ReceiveMessage (SQS long polling), in seconds (SQS maximum is 20).
RECEIVE_WAIT_S: Final = 20
#: Seconds between SIGTERM and SIGKILL when ECS stops a GPU task (scale-in, deployment, Spot drain):
#: a whole job attempt plus a margin to store its results. The worker drains within it.
STOP_TIMEOUT_S: Final = JOB_TIMEOUT_S + 30
#: Seconds of the stop timeout kept back, at most, for handing an unfinished job back and exiting.
STOP_MARGIN_S: Final = 10
#: Delay, in seconds, before a failed attempt's message becomes visible again (times the attempt number).
RETRY_BACKOFF_S: Final = 2
#: Days a job and everything it made live: the record's DynamoDB TTL (``expiresAt`` = creation +
#: this) and the stickers bucket's lifecycle expiration are the same number, so a status document never
#: outlives its stickers by weeks and stickers never outlive the record that lets their owner delete
#: them. The CDK context key ``stickerRetentionDays`` overrides it for both (the functions read it as
#: ``STICKERS_RETENTION_DAYS``). Both deletions are lazy: DynamoDB's TTL removes an expired record
#: within a few days, S3's lifecycle an expired object from the next midnight UTC on.
RETENTION_DAYS: Final = 30
#: Seconds a sticker may be cached, by CloudFront (the stickers behaviour's default and maximum TTL)
#: and by browsers (``Cache-Control: max-age`` on every sticker object). Bounded rather than a year so
#: that a deleted (DELETE /v1/jobs/{jobId}) or expired sticker stops answering through the CDN within
#: this many seconds without a CloudFront invalidation per deletion.
STICKER_CACHE_MAX_AGE_S: Final = 300
#: Days the dead-letter queue keeps a message (SQS maximum is 14).
DLQ_RETENTION_DAYS: Final = 14

# --- input -----------------------------------------------------------------------------------------
#: Largest image accepted on the direct multipart path, in bytes. API Gateway and Lambda carry at most
#: 6 MB of payload and the body arrives base64-encoded (4/3 larger), so ~4 MB of binary.
DIRECT_UPLOAD_MAX_BYTES: Final = 4 * 1024 * 1024
#: Largest image accepted through a presigned S3 upload (POST /v1/uploads), in bytes.
UPLOAD_MAX_BYTES: Final = 10 * 1024 * 1024
#: Seconds a presigned upload slot stays valid.
UPLOAD_URL_EXPIRES_S: Final = 900
MIN_SIDE_PX: Final = 64
MAX_SIDE_PX: Final = 8000
MAX_MEGAPIXELS: Final = 40
ALLOWED_IMAGE_TYPES: Final = ("image/jpeg", "image/png", "image/webp", "image/gif")

TEXT_MAX_CHARS: Final = 200
KEYWORDS_MAX: Final = 10
KEYWORD_MAX_CHARS: Final = 30
#: POST /v1/stickers/prompt: prompt and negative prompt lengths (characters, after trimming), reference
#: images per job, the seed's range (Amazon Nova Canvas's ``imageGenerationConfig.seed`` accepts it), and
#: prompt jobs per API key per UTC day unless the deployment sets ``promptDailyQuota``.
PROMPT_MAX_CHARS: Final = 500
REFERENCE_IMAGES_MAX: Final = 3
SEED_MAX: Final = 858_993_459
PROMPT_DAILY_QUOTA: Final = 100
COUNT_MIN: Final = 1
COUNT_MAX: Final = 8
#: Output options (docs/api.md): the longest side of a sticker, px, when a job asks for a size …
OUTPUT_SIZE_MIN_PX: Final = 128
OUTPUT_SIZE_MAX_PX: Final = 1024
#: … the default longest side, px …
OUTPUT_SIZE_DEFAULT_PX: Final = 512
#: … and the longest watermark text, characters.
WATERMARK_MAX_CHARS: Final = 40
#: Longest side of a job's thumbnail (a WebP contact sheet of its stickers), px.
THUMBNAIL_MAX_PX: Final = 256
LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT_MAX: Final = 100

# --- usage plan (per API key) ----------------------------------------------------------------------
#: Steady-state requests per second per key (API Gateway usage plan `rateLimit`).
RATE_LIMIT_RPS: Final = 10.0
#: Bucket size of the token bucket (API Gateway usage plan `burstLimit`).
BURST_LIMIT: Final = 20
#: Requests per key per day (API Gateway usage plan quota).
DAILY_QUOTA: Final = 10_000

# --- resource names (logical; the CDK stack prefixes them with the stage) ------------------------------
TABLE_NAME: Final = "stickers-jobs"
OWNER_INDEX_NAME: Final = "byOwner"
QUEUE_NAME: Final = "stickers-jobs"
DLQ_NAME: Final = "stickers-jobs-dlq"
UPLOADS_BUCKET_NAME: Final = "stickers-uploads"
STICKERS_BUCKET_NAME: Final = "stickers-output"
STICKERS_PREFIX: Final = "stickers"
UPLOADS_PREFIX: Final = "uploads"
METRICS_NAMESPACE: Final = "Stickers"
SERVICE_NAME: Final = "stickers"

# --- live progress over WebSocket (docs/api.md, "Live progress over WebSocket") ------------------------
#: DynamoDB table of the WebSocket connections and their subscriptions (stickers_core.realtime).
CONNECTIONS_TABLE_NAME: Final = "stickers-connections"
#: Open WebSocket connections per API key at most (one more is refused at the handshake with 429).
WS_MAX_CONNECTIONS_PER_KEY: Final = 100
#: Jobs one connection may follow at once (a subscription beyond is answered TOO_MANY_SUBSCRIPTIONS).
WS_MAX_SUBSCRIPTIONS: Final = 20
#: API Gateway closes a WebSocket connection after 2 hours (a service quota); connection records
#: expire (DynamoDB TTL) a little later, so a connection whose $disconnect never arrived frees its slot.
WS_MAX_CONNECTION_S: Final = 2 * 3600
WS_CONNECTION_TTL_S: Final = WS_MAX_CONNECTION_S + 300
#: Largest client message, bytes (API Gateway's WebSocket message quota: 128 KB).
WS_MESSAGE_MAX_BYTES: Final = 128 * 1024
#: Messages waiting for one connection's socket on the local front at most; past it the connection is
#: dropped, so a client that stops reading never holds up the others.
WS_SEND_QUEUE_MAX: Final = 256
