"""S3 storage: uploaded photos and rendered stickers.

Key layout: photos ``uploads/<id>`` in the uploads bucket; stickers
``stickers/<jobId>/<n>-<style>.png`` (``.webp`` for WebP output or the WhatsApp preset) and the job's
contact sheet ``stickers/<jobId>/thumbnail.webp`` in the stickers bucket (served by the CDN, cached at most
:data:`stickers_core.limits.STICKER_CACHE_MAX_AGE_S` seconds, so a deleted or expired sticker stops
answering within that time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stickers_core import aws, limits

#: ``Cache-Control`` of every sticker object, which CloudFront and browsers honour. A sticker key never
#: changes content, but a sticker can be deleted (DELETE /v1/jobs/{jobId}) or expire (the bucket's
#: lifecycle rule): caches may keep it :data:`stickers_core.limits.STICKER_CACHE_MAX_AGE_S` seconds and
#: no longer, so it stops being served within minutes of its deletion. (Not ``immutable``, not a year:
#: that kept deleted stickers public for up to a year.)
STICKER_CACHE_CONTROL = f"public, max-age={limits.STICKER_CACHE_MAX_AGE_S}"


@dataclass(frozen=True)
class Upload:
    """An uploaded photo as read back: its bytes and when S3 stored it (None when S3 did not say)."""

    data: bytes
    last_modified: datetime | None


def upload_key(upload_id: str) -> str:
    """S3 key of an uploaded photo."""
    return f"{limits.UPLOADS_PREFIX}/{upload_id}"


def sticker_key(job_id: str, index: int, style: str, extension: str = "png") -> str:
    """S3 key of sticker `index` (1-based) of a job: ``stickers/<jobId>/<n>-<style>.png``."""
    return f"{limits.STICKERS_PREFIX}/{job_id}/{index}-{style}.{extension}"


def thumbnail_key(job_id: str) -> str:
    """S3 key of a job's contact sheet: ``stickers/<jobId>/thumbnail.webp`` (deleted with the stickers)."""
    return f"{limits.STICKERS_PREFIX}/{job_id}/thumbnail.webp"


class Storage:
    """Reads and writes the two buckets.

    Args:
        uploads_bucket: bucket for photos.
        stickers_bucket: bucket for stickers.
        s3: a boto3 S3 client (default: :func:`stickers_core.aws.client`).
    """

    def __init__(self, uploads_bucket: str, stickers_bucket: str, s3: Any | None = None) -> None:
        self.uploads_bucket = uploads_bucket
        self.stickers_bucket = stickers_bucket
        self._s3 = s3 or aws.client("s3")

    def put_upload(self, key: str, data: bytes, content_type: str) -> None:
        """Store a photo (server-side encrypted)."""
        self._s3.put_object(
            Bucket=self.uploads_bucket, Key=key, Body=data, ContentType=content_type, ServerSideEncryption="AES256"
        )

    def get_upload(self, key: str, max_bytes: int = limits.UPLOAD_MAX_BYTES) -> bytes | None:
        """The photo's bytes, or None when the key does not exist (:meth:`get_upload_object`).

        Raises:
            ValueError: the object is larger than `max_bytes`.
            botocore.exceptions.ClientError: S3 refused the read of an object that exists.
        """
        upload = self.get_upload_object(key, max_bytes)
        return upload.data if upload is not None else None

    def get_upload_object(self, key: str, max_bytes: int = limits.UPLOAD_MAX_BYTES) -> Upload | None:
        """The photo's bytes and when S3 stored it (the GetObject's ``LastModified``), or None when the
        key does not exist.

        The roles may list the uploads bucket only under ``uploads/`` (an ``s3:prefix`` condition), and
        S3 answers a GetObject of a missing key with 403 unless the caller could list the bucket: an
        AccessDenied is therefore confirmed with a prefix-scoped listing before it counts as "absent";
        a real permission error still raises.

        Raises:
            ValueError: the object is larger than `max_bytes`.
            botocore.exceptions.ClientError: S3 refused the read of an object that exists.
        """
        try:
            obj = self._s3.get_object(Bucket=self.uploads_bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404") or (code in ("AccessDenied", "403") and self._listed_size(key) is None):
                return None
            raise
        if obj.get("ContentLength", 0) > max_bytes:
            obj["Body"].close()
            raise ValueError(f"upload {key} is larger than {max_bytes} bytes")
        return Upload(obj["Body"].read(), obj.get("LastModified"))

    def upload_size(self, key: str) -> int | None:
        """Size in bytes of an uploaded photo, or None when absent (a listing under the key's own
        prefix, which the ``s3:prefix``-scoped ListBucket grant allows, instead of a HeadObject whose
        missing-key answer depends on unconditioned list rights)."""
        return self._listed_size(key)

    def _listed_size(self, key: str) -> int | None:
        page = self._s3.list_objects_v2(Bucket=self.uploads_bucket, Prefix=key, MaxKeys=1)
        for obj in page.get("Contents", []):
            if obj["Key"] == key:
                return int(obj["Size"])
        return None

    def put_sticker(self, key: str, data: bytes, content_type: str = "image/png") -> None:
        """Store a rendered sticker with :data:`STICKER_CACHE_CONTROL` (cacheable for at most 300 s)."""
        self._s3.put_object(
            Bucket=self.stickers_bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            CacheControl=STICKER_CACHE_CONTROL,
            ServerSideEncryption="AES256",
        )

    def probe(self) -> None:
        """Raise unless both buckets answer: a one-key listing of each under the service's own prefix
        (what the ``s3:prefix``-scoped ListBucket grants allow; ``GET /v1/health``).

        Raises:
            botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError: a bucket did not answer.
        """
        self._s3.list_objects_v2(Bucket=self.uploads_bucket, Prefix=f"{limits.UPLOADS_PREFIX}/", MaxKeys=1)
        self._s3.list_objects_v2(Bucket=self.stickers_bucket, Prefix=f"{limits.STICKERS_PREFIX}/", MaxKeys=1)

    def delete_upload(self, key: str) -> None:
        """Delete a photo (no error when absent)."""
        self._s3.delete_object(Bucket=self.uploads_bucket, Key=key)

    def delete_stickers(self, job_id: str) -> int:
        """Delete every sticker of a job; returns how many objects were deleted."""
        prefix = f"{limits.STICKERS_PREFIX}/{job_id}/"
        deleted = 0
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.stickers_bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self._s3.delete_objects(Bucket=self.stickers_bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted

    def presigned_post(self, key: str, content_type: str, max_bytes: int, expires_s: int) -> dict[str, Any]:
        """A presigned S3 POST for one object that S3 itself limits to `content_type` and `max_bytes`.

        Signed with SigV4 (fields ``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``,
        ``x-amz-signature``, ``policy``) for the regional virtual-hosted URL
        ``https://<bucket>.s3.<region>.amazonaws.com/`` when the client comes from
        :func:`stickers_core.aws.client` (:data:`stickers_core.aws.S3_CONFIG`); SigV2 forms are refused by
        buckets created since mid-2020. Presigning is local: no request is made.

        Args:
            key: object key the form may write.
            content_type: the only ``Content-Type`` the form accepts.
            max_bytes: largest object S3 accepts through the form, bytes.
            expires_s: seconds the form stays valid.

        Returns:
            ``{"url": …, "fields": {…}}`` as boto3's ``generate_presigned_post`` gives them.
        """
        return self._s3.generate_presigned_post(
            Bucket=self.uploads_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_s,
        )
