"""Archive closed event streams to S3-compatible object storage (S3, R2, MinIO).

Needs the optional ``boto3`` dependency (``pip install 'codetether[archive]'``).
Objects: ``<prefix><session_id>/events.jsonl`` and ``.../events.idx``, each uploaded
with ``Content-MD5`` (the server rejects a body damaged in transit) and ``sha256``
metadata (checked again on restore). Single PUTs, so one file is at most 5 GiB.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from ....errors import ConfigError, InvalidParams, SecretError
from ._errors import ArchiveError, ArchiveNotFound
from ._stream import INDEX_NAME, LOG_NAME, check_session_id

_FILES = (LOG_NAME, INDEX_NAME)
_MAX_PUT = 5 << 30
_NOT_FOUND = {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}


class ArchivedFile(msgspec.Struct, frozen=True):
    key: str
    size: int
    sha256: str


class ArchivedStream(msgspec.Struct, frozen=True):
    """What :meth:`S3Archiver.archive` uploaded."""

    session_id: str
    bucket: str
    files: list[ArchivedFile]


def _digests(path: Path) -> tuple[str, str, int]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return base64.b64encode(md5.digest()).decode(), sha.hexdigest(), size


class S3Archiver:
    """Upload and restore session event streams; one boto3 client, safe across threads.

    Credentials default to boto3's chain (environment, profile, instance role).
    For R2 pass ``endpoint_url="https://<account>.r2.cloudflarestorage.com"`` and
    ``region="auto"``.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "codetether/events/",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        profile: str | None = None,
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("S3 archival needs boto3: pip install 'codetether[archive]'") from exc
        if not bucket:
            raise InvalidParams("S3Archiver needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            profile_name=profile,
            region_name=region,
        )
        config = Config(
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
            # Content-MD5 and our sha256 already cover integrity; not every
            # S3-compatible server accepts the newer default CRC trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)

    def key(self, session_id: str, name: str = LOG_NAME) -> str:
        return f"{self.prefix}{session_id}/{name}"

    def archive(self, session_id: str, source_dir: str | os.PathLike[str]) -> ArchivedStream:
        """Upload ``<source_dir>/<session_id>/events.{jsonl,idx}``; close the stream first."""
        check_session_id(session_id)
        folder = Path(source_dir) / session_id
        if not (folder / LOG_NAME).is_file():
            raise ArchiveNotFound(f"no event stream for session {session_id} under {source_dir}")
        files = []
        for name in _FILES:
            path = folder / name
            if not path.is_file():
                continue
            md5, sha, size = _digests(path)
            if size > _MAX_PUT:
                raise ArchiveError(f"{path} is {size} bytes; a single upload takes at most 5 GiB")
            key = self.key(session_id, name)
            with path.open("rb") as body:
                self._call(
                    "upload",
                    key,
                    self._client.put_object,
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentMD5=md5,
                    ContentLength=size,
                    ContentType="application/x-ndjson" if name == LOG_NAME else "application/octet-stream",
                    Metadata={"sha256": sha, "session-id": session_id},
                )
            files.append(ArchivedFile(key=key, size=size, sha256=sha))
        return ArchivedStream(session_id=session_id, bucket=self.bucket, files=files)

    def restore(self, session_id: str, dest_dir: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Download a session's stream into ``<dest_dir>/<session_id>/``; returns that folder.

        Each file is checked against its ``sha256`` metadata and moved into place
        atomically. Without the index, the next open rebuilds it from the log.
        """
        check_session_id(session_id)
        folder = Path(dest_dir) / session_id
        if (folder / LOG_NAME).exists() and not overwrite:
            raise ArchiveError(f"{folder / LOG_NAME} exists; pass overwrite=True to replace it")
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            key = self.key(session_id, name)
            try:
                response = self._call("download", key, self._client.get_object, Bucket=self.bucket, Key=key)
            except ArchiveNotFound:
                if name == LOG_NAME:
                    raise
                (folder / name).unlink(missing_ok=True)
                continue
            self._write_checked(folder / name, key, response)
        return folder

    def _write_checked(self, path: Path, key: str, response: dict[str, Any]) -> None:
        expected = response.get("Metadata", {}).get("sha256")
        sha = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            body = response["Body"]
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in body.iter_chunks(1 << 20):
                        sha.update(chunk)
                        out.write(chunk)
            finally:
                body.close()
            if expected and sha.hexdigest() != expected:
                raise ArchiveError(
                    f"s3://{self.bucket}/{key} does not match its sha256 ({sha.hexdigest()} != {expected})"
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list(self) -> list[str]:
        """Session ids with an archived stream, sorted."""
        paginator = self._client.get_paginator("list_objects_v2")
        found: set[str] = set()
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in self._call("list", self.prefix, lambda: list(pages)):
            for obj in page.get("Contents", []):
                sid, _, name = obj["Key"][len(self.prefix) :].partition("/")
                if name == LOG_NAME:
                    found.add(sid)
        return sorted(found)

    def delete(self, session_id: str) -> None:
        """Remove a session's archived objects."""
        check_session_id(session_id)
        for name in _FILES:
            key = self.key(session_id, name)
            self._call("delete", key, self._client.delete_object, Bucket=self.bucket, Key=key)

    def _call(self, what: str, key: str, fn: Any, /, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f"s3://{self.bucket}/{key}"
        try:
            return fn(**kwargs)
        except NoCredentialsError as exc:  # a missing key, said like every other (exit 6)
            raise SecretError(
                f"archive {what} {where} failed: no credentials; store aws_access_key_id and "
                "aws_secret_access_key in Vault at secret/codetether/providers/archive, or set "
                "boto3's own (AWS_ACCESS_KEY_ID / ~/.aws/credentials)") from exc
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code, message = str(err.get("Code", "")), str(err.get("Message", "")) or str(exc)
            cls = ArchiveNotFound if code in _NOT_FOUND else ArchiveError
            raise cls(f"archive {what} {where} failed: {code}: {message}", data={"code": code}) from exc
        except BotoCoreError as exc:
            raise ArchiveError(f"archive {what} {where} failed: {exc}") from exc

    # -- async and lifecycle ------------------------------------------------------

    async def archive_async(self, session_id: str, source_dir: str | os.PathLike[str]) -> ArchivedStream:
        """:meth:`archive` in a worker thread, so the event loop keeps running."""
        return await asyncio.to_thread(self.archive, session_id, source_dir)

    async def restore_async(
        self, session_id: str, dest_dir: str | os.PathLike[str], *, overwrite: bool = False
    ) -> Path:
        """:meth:`restore` in a worker thread."""
        return await asyncio.to_thread(self.restore, session_id, dest_dir, overwrite=overwrite)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def __enter__(self) -> S3Archiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
