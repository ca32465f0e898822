"""`ArtifactClient`: push, pull, stat and list artifacts of Gantry's
artifact store (`gantry.artifacts.v1.ArtifactService`, port 50053).

Uploads stream in chunks from a path, a binary file object, a bytes-like
object or any iterable of bytes, so memory stays at about one chunk whatever
the size. Every failure raises an `ArtifactError` (see `errors`).

The client remembers the highest event sequence its own uploads answered
and sends it as `min_sequence` on later calls, so reading (or naming as a
lineage input) what it has just pushed always finds it. For artifacts pushed
by another process, pass their `PushResult` (or its `sequence` as
`min_sequence`).
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO, Self, TypeAlias, overload

import grpc

from ._proto.gantry.artifacts.v1 import artifacts_pb2, artifacts_pb2_grpc
from .errors import from_rpc_error
from .models import Artifact, PushResult, Retention, VerifyResult

__all__ = ["DEFAULT_CHUNK_SIZE", "ArtifactClient", "Download", "Source", "iter_chunks"]

#: The chunk size of uploads: the service's default `ingest.max_chunk_bytes`.
DEFAULT_CHUNK_SIZE = 1024 * 1024

#: What `push` reads: a path, a binary file object, a bytes-like object, or
#: any iterable of bytes-like pieces (of any sizes: they are re-chunked).
Source: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]

#: An input named by id, or by what pushing (or stat-ing) it answered.
Input: TypeAlias = str | PushResult | Artifact

_MAX_RECEIVE_BYTES = 64 * 1024 * 1024


def iter_chunks(source: Source, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
    """Yields `source`'s bytes in chunks of exactly `chunk_size` (the last
    one shorter), holding at most one chunk (plus one piece of an iterable)
    in memory. A path is opened (and closed) here; a file object is read
    from where it stands and left open."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be above 0")
    if isinstance(source, (str, os.PathLike)):
        return _file_chunks_at(source, chunk_size)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _buffer_chunks(memoryview(source).cast("B"), chunk_size)
    if hasattr(source, "read"):
        return _file_chunks(source, chunk_size)  # type: ignore[arg-type]
    if isinstance(source, Iterable):
        return _rechunk(source, chunk_size)
    raise TypeError(
        f"push reads a path, a binary file, bytes or an iterable of bytes, not {type(source).__name__}"
    )


def _file_chunks_at(path: str | os.PathLike[str], chunk_size: int) -> Iterator[bytes]:
    with open(path, "rb") as file:
        yield from _file_chunks(file, chunk_size)


def _file_chunks(file: IO[bytes], chunk_size: int) -> Iterator[bytes]:
    while True:
        chunk = file.read(chunk_size)
        if isinstance(chunk, str):
            raise TypeError("the file is open in text mode: open it with 'rb'")
        if not chunk:
            return
        # A raw (unbuffered) file may answer short reads: fill the chunk.
        while len(chunk) < chunk_size:
            more = file.read(chunk_size - len(chunk))
            if not more:
                break
            chunk += more
        yield bytes(chunk)


def _buffer_chunks(view: memoryview, chunk_size: int) -> Iterator[bytes]:
    for start in range(0, len(view), chunk_size):
        yield bytes(view[start : start + chunk_size])


def _rechunk(pieces: Iterable[bytes], chunk_size: int) -> Iterator[bytes]:
    buffer = bytearray()
    for piece in pieces:
        if isinstance(piece, str):
            raise TypeError("an iterable source must yield bytes, not str (encode it)")
        try:
            view = memoryview(piece).cast("B")
        except TypeError:
            raise TypeError(f"an iterable source must yield bytes, not {type(piece).__name__}") from None
        position = 0
        if buffer:
            position = min(chunk_size - len(buffer), len(view))
            buffer += view[:position]
            if len(buffer) < chunk_size:
                continue
            yield bytes(buffer)
            buffer = bytearray()
        while len(view) - position >= chunk_size:
            yield bytes(view[position : position + chunk_size])
            position += chunk_size
        buffer += view[position:]
    if buffer:
        yield bytes(buffer)


class _UploadRequests:
    """The request stream of one upload: the header, then the chunks.

    gRPC reads it on a thread of its own. When reading the source fails,
    the call is cancelled first (the service then stores nothing) and the
    error is kept for `push` to raise, instead of the stream ending as if
    the bytes were complete.
    """

    def __init__(self, header: artifacts_pb2.UploadHeader, chunks: Iterator[bytes]) -> None:
        self._header = header
        self._chunks = chunks
        self._call: grpc.Future[Any] | None = None
        self._attached = threading.Event()
        self.error: Exception | None = None

    def attach(self, call: grpc.Future[Any]) -> None:
        self._call = call
        self._attached.set()

    def __iter__(self) -> Iterator[artifacts_pb2.UploadRequest]:
        yield artifacts_pb2.UploadRequest(header=self._header)
        try:
            for chunk in self._chunks:
                yield artifacts_pb2.UploadRequest(chunk=chunk)
        except Exception as error:  # noqa: BLE001 - handed to push's caller
            self.error = error
            # Cancel, then end: never end the stream as if it were complete.
            if not self._attached.wait(timeout=30) or self._call is None:
                raise
            self._call.cancel()

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:
                pass  # still being read on gRPC's thread; collected with it


class Download:
    """An artifact's bytes (or a range of them) as they arrive.

    `artifact`, `offset` and `length` are known once opened; iterate for the
    chunks. A corrupted blob raises `DataLoss`, possibly after some chunks
    (discard them). Close it (or use `with`) to stop early.
    """

    def __init__(self, call: Any, artifact: Artifact, offset: int, length: int) -> None:
        self._call = call
        self.artifact = artifact
        #: The first byte that follows.
        self.offset = offset
        #: How many bytes follow.
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        try:
            for message in self._call:
                if message.WhichOneof("message") == "chunk":
                    yield message.chunk
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def close(self) -> None:
        self._call.cancel()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _channel(
    target: str, root_certificates: bytes | None, tls_server_name: str | None, options: Sequence[tuple[str, Any]]
) -> grpc.Channel:
    secure = root_certificates is not None
    if target.startswith("https://"):
        target, secure = target.removeprefix("https://"), True
    elif target.startswith("http://"):
        target = target.removeprefix("http://")
    target = target.rstrip("/")
    settings = [("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES), *options]
    if tls_server_name:
        settings.append(("grpc.ssl_target_name_override", tls_server_name))
    if secure:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.secure_channel(target, credentials, options=settings)
    return grpc.insecure_channel(target, options=settings)


class ArtifactClient:
    """A client of Gantry's artifact store.

    Args:
        target: the service's address: `host:port`, `http://host:port`, or
            `https://host:port` (TLS).
        token: the bearer token (`gantry admin token create`); defaults to
            `$GANTRY_TOKEN`.
        root_certificates: PEM CA certificates to trust (turns TLS on).
        tls_server_name: the name to verify the server's certificate against
            when it differs from the host in `target`.
        timeout: the deadline in seconds of `stat`, `list` and `verify`
            calls (None: none). `push` and `pull` take their own.
        options: further gRPC channel options.

    Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        target: str,
        token: str | None = None,
        *,
        root_certificates: bytes | None = None,
        tls_server_name: str | None = None,
        timeout: float | None = 60.0,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        token = token if token is not None else os.environ.get("GANTRY_TOKEN")
        if not token:
            raise ValueError("a bearer token is needed: pass token= or set GANTRY_TOKEN")
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._channel = _channel(target, root_certificates, tls_server_name, options)
        # The generated stub is untyped; every answer is typed below.
        self._stub: Any = artifacts_pb2_grpc.ArtifactServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._sequence = 0
        self._lock = threading.Lock()

    # -- life -----------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @property
    def last_sequence(self) -> int:
        """The highest event sequence this client's calls answered."""
        return self._sequence

    def _saw(self, sequence: int) -> None:
        with self._lock:
            self._sequence = max(self._sequence, sequence)

    def _min_sequence(self, explicit: int | None) -> int:
        return max(self._sequence, explicit or 0)

    # -- upload ---------------------------------------------------------

    def push(
        self,
        source: Source,
        *,
        tenant: str,
        run_id: str,
        step_id: str,
        agent: str,
        agent_version: str,
        name: str,
        media_type: str = "",
        inputs: Iterable[Input] = (),
        retention: Retention | None = None,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        min_sequence: int | None = None,
        timeout: float | None = None,
    ) -> PushResult:
        """Streams `source` into the store as an artifact and returns the answer.

        Args:
            source: a path, a binary file object (read from where it stands),
                a bytes-like object, or any iterable of bytes.
            tenant, run_id, step_id, agent, agent_version, name: who produced
                it, where, and its name in the run.
            media_type: `type/subtype`; empty: `application/octet-stream`.
            inputs: its lineage: artifact ids, or the `PushResult`/`Artifact`
                of each input (their sequences are then waited for).
            retention: how long to keep it (None: the service's 90 days).
            expected_sha256, expected_size: when given, the service refuses
                bytes that differ (InvalidArgument naming the field).
            chunk_size: bytes per message, at most the service's
                `ingest.max_chunk_bytes` (1 MiB by default).
            min_sequence: the highest sequence the inputs' uploads answered,
                when they were pushed elsewhere and not passed as results.
            timeout: a deadline in seconds for the whole upload (None: none).

        Raises:
            ArtifactError: the service refused or failed; nothing was stored.
            OSError, TypeError, ...: reading `source` failed; the upload was
                cancelled and nothing was stored.
        """
        input_ids: list[str] = []
        wait_for = self._min_sequence(min_sequence)
        for item in inputs:
            if isinstance(item, (PushResult, Artifact)):
                input_ids.append(item.artifact_id)
                wait_for = max(wait_for, item.sequence)
            else:
                input_ids.append(str(item))
        header = artifacts_pb2.UploadHeader(
            tenant=tenant,
            run_id=run_id,
            step_id=step_id,
            agent=agent,
            agent_version=agent_version,
            name=name,
            media_type=media_type,
            input_artifact_ids=input_ids,
            # By name: the enums of the proto and of `Retention` share them.
            retention=f"RETENTION_POLICY_{retention.name if retention is not None else 'UNSPECIFIED'}",
            expected_sha256=expected_sha256 or "",
            min_sequence=wait_for,
        )
        if expected_size is not None:
            header.expected_size_bytes = expected_size
        requests = _UploadRequests(header, iter_chunks(source, chunk_size))
        try:
            call = self._stub.Upload.future(iter(requests), metadata=self._metadata, timeout=timeout)
            requests.attach(call)
            try:
                response = call.result()
            except (grpc.RpcError, grpc.FutureCancelledError) as error:
                if requests.error is not None:
                    raise requests.error from None
                if isinstance(error, grpc.FutureCancelledError):
                    raise from_rpc_error(call) from None
                raise from_rpc_error(error) from None
            except BaseException:
                call.cancel()
                raise
        finally:
            requests.close()
        result = PushResult.from_proto(response)
        self._saw(result.sequence)
        return result

    # -- download -------------------------------------------------------

    def open(
        self,
        artifact_id: str,
        byte_range: tuple[int, int | None] | None = None,
        *,
        min_sequence: int | None = None,
        timeout: float | None = None,
    ) -> Download:
        """Starts a download and returns it once the service answered its
        header (so a missing artifact raises `NotFound` here).

        `byte_range` is `(start, stop)` as in `data[start:stop]`; `stop`
        None: to the end. A range running past the end is cut there; one
        starting past the end raises `OutOfRange`.
        """
        offset, length = _range(byte_range)
        request = artifacts_pb2.DownloadRequest(
            artifact_id=artifact_id, offset=offset, length=length, min_sequence=self._min_sequence(min_sequence)
        )
        call = self._stub.Download(request, metadata=self._metadata, timeout=timeout)
        try:
            first = next(call)
        except StopIteration:
            raise from_rpc_error(_EndedEarly()) from None
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        if first.WhichOneof("message") != "header":
            call.cancel()
            raise from_rpc_error(_EndedEarly())
        header = first.header
        return Download(call, Artifact.from_proto(header.artifact), header.offset, header.length)

    @overload
    def pull(
        self,
        artifact_id: str,
        dest: None = None,
        byte_range: tuple[int, int | None] | None = None,
        *,
        min_sequence: int | None = None,
        timeout: float | None = None,
    ) -> bytes: ...

    @overload
    def pull(
        self,
        artifact_id: str,
        dest: str | os.PathLike[str] | BinaryIO,
        byte_range: tuple[int, int | None] | None = None,
        *,
        min_sequence: int | None = None,
        timeout: float | None = None,
    ) -> Artifact: ...

    def pull(
        self,
        artifact_id: str,
        dest: str | os.PathLike[str] | BinaryIO | None = None,
        byte_range: tuple[int, int | None] | None = None,
        *,
        min_sequence: int | None = None,
        timeout: float | None = None,
    ) -> bytes | Artifact:
        """Downloads an artifact (or `byte_range` of it, `(start, stop)` as
        in `data[start:stop]`).

        With no `dest`, returns the bytes (keep that for small artifacts).
        With a path, streams into a temporary file beside it, renamed into
        place only once complete and checked, and returns the artifact's
        metadata. With a binary file object, streams into it (after a
        `DataLoss` its content must be discarded) and returns the metadata.
        """
        with self.open(artifact_id, byte_range, min_sequence=min_sequence, timeout=timeout) as download:
            if dest is None:
                return b"".join(download)
            if isinstance(dest, (str, os.PathLike)):
                _stream_to_path(download, Path(dest))
            else:
                for chunk in download:
                    dest.write(chunk)
            return download.artifact

    # -- metadata -------------------------------------------------------

    def stat(self, artifact_id: str, *, min_sequence: int | None = None) -> Artifact:
        """One artifact's metadata and its blob's integrity status."""
        request = artifacts_pb2.StatRequest(artifact_id=artifact_id, min_sequence=self._min_sequence(min_sequence))
        try:
            response = self._stub.Stat(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return Artifact.from_proto(response.artifact)

    def list_pages(
        self,
        tenant: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        include_expired: bool = False,
        page_size: int = 0,
        min_sequence: int | None = None,
    ) -> Iterator[list[Artifact]]:
        """A tenant's artifacts, newest first, one page (`page_size`, 1 to
        500; 0: the service's 50) at a time, until the last page."""
        token = ""
        while True:
            request = artifacts_pb2.ListRequest(
                tenant=tenant,
                run_id=run_id or "",
                name=name or "",
                include_expired=include_expired,
                page_size=page_size,
                page_token=token,
                min_sequence=self._min_sequence(min_sequence),
            )
            try:
                response = self._stub.List(request, metadata=self._metadata, timeout=self._timeout)
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None
            yield [Artifact.from_proto(artifact) for artifact in response.artifacts]
            token = response.next_page_token
            if not token:
                return

    def list(
        self,
        tenant: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        include_expired: bool = False,
        page_size: int = 0,
        min_sequence: int | None = None,
    ) -> Iterator[Artifact]:
        """A tenant's artifacts, newest first, optionally of one run or one
        name, across every page (fetched as the iteration needs them)."""
        for page in self.list_pages(
            tenant,
            run_id=run_id,
            name=name,
            include_expired=include_expired,
            page_size=page_size,
            min_sequence=min_sequence,
        ):
            yield from page

    def verify(self, backend: str = "", *, timeout: float | None = None) -> VerifyResult:
        """Re-reads every blob of the backend (`platform-team` only)."""
        request = artifacts_pb2.VerifyRequest(backend=backend, min_sequence=self._sequence)
        try:
            response = self._stub.Verify(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        self._saw(response.sequence)
        return VerifyResult(
            verified=response.verified,
            corrupted=response.corrupted,
            corrupted_sha256=tuple(response.corrupted_sha256),
            sequence=response.sequence,
        )


class _EndedEarly(grpc.RpcError):
    """A download stream that ended without its header."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.INTERNAL

    def details(self) -> str:
        return "the download ended before its header"

    def trailing_metadata(self) -> tuple[()]:
        return ()


def _range(byte_range: tuple[int, int | None] | None) -> tuple[int, int]:
    """(offset, length) of the request; length 0 means to the end."""
    if byte_range is None:
        return 0, 0
    start, stop = byte_range
    if start < 0 or (stop is not None and stop <= start):
        raise ValueError(f"byte_range {byte_range!r}: need 0 <= start < stop (stop None: to the end)")
    return start, 0 if stop is None else stop - start


def _stream_to_path(download: Download, path: Path) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{uuid.uuid4().hex[:8]}.partial", dir=directory)
    try:
        with os.fdopen(handle, "wb") as file:
            for chunk in download:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
