"""Where slide PDFs live: a directory under instance/ (the default) or an S3-compatible bucket.

Keys are the random stored names the service makes, never the uploader's file name. Downloads go
through the app in both cases, so the one access rule (``can_download_slides``) stays in the view
and no link to the file can be passed on (see README, "Slides").
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Mapping, Optional, Protocol

from flask import send_file, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from review.core.errors import DomainError

log = logging.getLogger(__name__)

PDF_MIMETYPE = "application/pdf"
UNREACHABLE = ("The slide storage cannot be reached right now, so nothing was saved. Try again in "
               "a few minutes, or give a link to the slides instead.")
REFUSED = ("The slide storage refused the file, so nothing was saved. Tell the course staff: the "
           "storage's bucket or credentials may be set up wrongly.")
UNAVAILABLE = "The slides cannot be fetched from storage right now; try again in a few minutes."


class SlideStoreError(DomainError):
    """The store failed (unreachable, refused); the message is for the user."""


class SlideStore(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store the PDF under key, or raise SlideStoreError."""

    def delete(self, key: str) -> None:
        """Remove key if present; never raises (used to undo a put)."""

    def download(self, key: str, download_name: str) -> WerkzeugResponse:
        """The PDF as an attachment; NotFound if missing, SlideStoreError if the store failed."""


class LocalSlideStore:
    """A directory outside the web root (instance/slides/ unless FLASK_SLIDES_DIR moves it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, key: str, data: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / key).write_bytes(data)
        except OSError as exc:
            log.error("slides: cannot write %s in %s: %s", key, self.directory, exc)
            raise SlideStoreError(REFUSED) from None

    def delete(self, key: str) -> None:
        try:
            (self.directory / key).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("slides: cannot remove %s from %s: %s", key, self.directory, exc)

    def download(self, key: str, download_name: str) -> WerkzeugResponse:
        return send_from_directory(self.directory, key, mimetype=PDF_MIMETYPE, as_attachment=True,
                                   download_name=download_name)


class S3SlideStore:
    """An S3-compatible bucket (AWS, MinIO, Ceph, ...); boto3 is imported on first use."""

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: Optional[str] = None,
                 region: Optional[str] = None, access_key: Optional[str] = None,
                 secret_key: Optional[str] = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.access_key = access_key or None
        self.secret_key = secret_key or None
        self._client: Any = None
        self._lock = threading.Lock()

    def _object_key(self, key: str) -> str:
        return self.prefix + key

    def client(self) -> Any:
        # boto3 costs a noticeable import and client set-up: pay it on the first slide, not at start.
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(connect_timeout=5, read_timeout=30,
                                retries={"max_attempts": 2, "mode": "standard"},
                                # MinIO and Ceph usually serve buckets by path, not sub-domain.
                                s3={"addressing_style": "path"} if self.endpoint_url else None)
                # Without explicit keys boto3 reads the standard AWS environment and config.
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                    aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                    config=config)
            return self._client

    @staticmethod
    def _user_error(exc: Exception) -> SlideStoreError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            return SlideStoreError(REFUSED)
        return SlideStoreError(UNREACHABLE)

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data,
                                     ContentType=PDF_MIMETYPE)
        except (BotoCoreError, ClientError) as exc:
            log.error("slides: cannot store %s in bucket %s: %s", key, self.bucket, exc)
            raise self._user_error(exc) from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            log.warning("slides: cannot remove %s from bucket %s: %s", key, self.bucket, exc)

    def download(self, key: str, download_name: str) -> WerkzeugResponse:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self.client().get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise NotFound() from None
            log.error("slides: cannot fetch %s from bucket %s: %s", key, self.bucket, exc)
            raise SlideStoreError(UNAVAILABLE) from None
        except BotoCoreError as exc:
            log.error("slides: cannot fetch %s from bucket %s: %s", key, self.bucket, exc)
            raise SlideStoreError(UNAVAILABLE) from None
        # Streamed in chunks, never held whole in memory; send_file sets the attachment header.
        response = send_file(found["Body"], mimetype=PDF_MIMETYPE, as_attachment=True,
                             download_name=download_name, etag=False, conditional=False)
        if found.get("ContentLength") is not None:
            response.content_length = found["ContentLength"]
        return response


def slide_store(config: Mapping[str, Any], instance_path: str) -> SlideStore:
    """The bucket when FLASK_SLIDES_S3_BUCKET is set, else the local directory."""
    bucket = config.get("SLIDES_S3_BUCKET")
    if bucket:
        return S3SlideStore(bucket=bucket, prefix=config.get("SLIDES_S3_PREFIX") or "",
                            endpoint_url=config.get("SLIDES_S3_ENDPOINT_URL"),
                            region=config.get("SLIDES_S3_REGION"),
                            access_key=config.get("SLIDES_S3_ACCESS_KEY"),
                            secret_key=config.get("SLIDES_S3_SECRET_KEY"))
    configured = config.get("SLIDES_DIR")
    return LocalSlideStore(Path(configured) if configured else Path(instance_path) / "slides")
