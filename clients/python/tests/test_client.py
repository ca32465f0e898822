"""The client against a real ingest (`gantry serve ingest`, see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest

from gantry_artifacts import (
    ArtifactClient,
    BlobStatus,
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    PushResult,
    Retention,
    Unauthenticated,
)

from .conftest import TENANT, Ingest

MIB = 1024 * 1024


def producer(run_id: str, name: str, **more: Any) -> dict[str, Any]:
    """The header fields of an upload of step `train` in `run_id`."""
    return {
        "tenant": TENANT,
        "run_id": run_id,
        "step_id": "train",
        "agent": "trainer",
        "agent_version": "1.4.2",
        "name": name,
        **more,
    }


def test_push_a_file_streams_it_and_answers_digests_and_place(
    ingest: Ingest, client: ArtifactClient, run_id: str, tmp_path: Path
) -> None:
    data = os.urandom(2 * MIB + 12_345)
    path = tmp_path / "weights.bin"
    path.write_bytes(data)

    result = client.push(path, **producer(run_id, "model/weights.bin"), media_type="application/octet-stream")

    assert isinstance(result, PushResult)
    assert uuid.UUID(result.artifact_id)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert len(result.blake3) == 64 and result.blake3 != result.sha256
    assert result.size == len(data)
    assert result.already_stored is False
    assert result.sequence > 0
    # Content-addressed: <prefix>/sha256/<hex[0:2]>/<hex[2:4]>/<hex> under the store's root.
    sha = result.sha256
    assert result.storage_uri.startswith("file://")
    assert result.storage_uri.endswith(f"/sha256/{sha[:2]}/{sha[2:4]}/{sha}")
    stored = Path(result.storage_uri.removeprefix("file://"))
    assert stored.is_relative_to(ingest.blob_root) and stored.read_bytes() == data
    assert client.last_sequence >= result.sequence

    # A file object, read from where it stands, and a small chunk size.
    with open(path, "rb") as file:
        file.seek(MIB)
        tail = client.push(file, **producer(run_id, "model/tail.bin"), chunk_size=64 * 1024)
    assert tail.sha256 == hashlib.sha256(data[MIB:]).hexdigest()
    assert tail.size == len(data) - MIB


def test_push_an_iterator_of_bytes_of_any_sizes(client: ArtifactClient, run_id: str) -> None:
    pieces = [os.urandom(size) for size in (0, 10, 3 * MIB + 1, 1, 700_000, 0, MIB)]
    produced: list[int] = []

    def generate() -> Iterator[bytes]:
        for piece in pieces:
            produced.append(len(piece))
            yield piece

    data = b"".join(pieces)
    result = client.push(generate(), **producer(run_id, "data/rows.csv"), media_type="text/csv")

    assert produced == [len(piece) for piece in pieces]
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert client.pull(result.artifact_id) == data
    assert result.artifact.media_type == "text/csv"
    # Bytes in memory are a source too; an empty artifact is one.
    assert client.push(b"abc", **producer(run_id, "small")).sha256 == hashlib.sha256(b"abc").hexdigest()
    assert client.push(iter(()), **producer(run_id, "empty")).size == 0


def test_the_same_bytes_twice_are_stored_once(client: ArtifactClient, run_id: str) -> None:
    data = os.urandom(300_000)
    first = client.push(data, **producer(run_id, "first.bin"))
    second = client.push(io.BytesIO(data), **producer(run_id, "second.bin"))

    assert first.already_stored is False
    assert second.already_stored is True
    assert second.artifact_id != first.artifact_id
    assert (second.sha256, second.blake3, second.storage_uri) == (first.sha256, first.blake3, first.storage_uri)
    assert second.sequence > first.sequence


def test_an_agent_pushes_an_output_with_its_inputs(ingest: Ingest, run_id: str) -> None:
    # One agent prepares the data, another (its own client, process-like)
    # trains on it and names the data as its input by id and sequence.
    preparer = ingest.client("agent")
    dataset = preparer.push(os.urandom(4096), **producer(run_id, "data/train.parquet"))
    config = preparer.push(b'{"epochs": 3}', **producer(run_id, "config.json"))

    trainer = ingest.client("agent")
    model = trainer.push(
        os.urandom(8192),
        **producer(run_id, "model.onnx"),
        inputs=[dataset.artifact_id, config.artifact_id],
        min_sequence=max(dataset.sequence, config.sequence),
    )
    assert trainer.stat(model.artifact_id).input_artifact_ids == (dataset.artifact_id, config.artifact_id)

    # The results themselves name inputs too (their sequences are waited for).
    report = preparer.push(b"<html>ok</html>", **producer(run_id, "report.html"), inputs=[model, dataset])
    assert report.artifact.input_artifact_ids == (model.artifact_id, dataset.artifact_id)


def test_an_unknown_input_is_refused_with_its_id(client: ArtifactClient, ingest: Ingest, run_id: str) -> None:
    known = client.push(b"known input", **producer(run_id, "known"))
    unknown = str(uuid.uuid4())
    with pytest.raises(FailedPrecondition) as raised:
        client.push(b"output", **producer(run_id, "output"), inputs=[known, unknown])
    error = raised.value
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.missing_input_ids == (unknown,)
    assert unknown in str(error)
    # Nothing was stored for the refused upload.
    assert [artifact.name for artifact in client.list(TENANT, run_id=run_id)] == ["known"]

    # Another tenant's artifact is missing too: ids never leak across tenants.
    theirs = ingest.client("other").push(b"globex's", **{**producer(run_id, "theirs"), "tenant": "globex"})
    with pytest.raises(FailedPrecondition) as raised:
        client.push(b"output", **producer(run_id, "output"), inputs=[theirs], min_sequence=theirs.sequence)
    assert raised.value.missing_input_ids == (theirs.artifact_id,)


def test_pull_whole_a_range_to_a_path_and_to_a_file(client: ArtifactClient, run_id: str, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 77)
    pushed = client.push(data, **producer(run_id, "big.bin"))

    assert client.pull(pushed.artifact_id) == data
    assert client.pull(pushed.artifact_id, byte_range=(10, 1000)) == data[10:1000]
    assert client.pull(pushed.artifact_id, byte_range=(MIB - 5, 2 * MIB + 5)) == data[MIB - 5 : 2 * MIB + 5]
    assert client.pull(pushed.artifact_id, byte_range=(len(data) - 7, None)) == data[-7:]
    # A range running past the end is cut there.
    assert client.pull(pushed.artifact_id, byte_range=(len(data) - 3, len(data) + 100)) == data[-3:]

    target = tmp_path / "out" / "big.bin"
    target.parent.mkdir()
    artifact = client.pull(pushed.artifact_id, target)
    assert target.read_bytes() == data
    assert artifact.artifact_id == pushed.artifact_id and artifact.sha256 == pushed.sha256
    assert sorted(path.name for path in target.parent.iterdir()) == ["big.bin"], "no partial file left"

    sink = io.BytesIO()
    client.pull(pushed.artifact_id, sink, byte_range=(5, 50))
    assert sink.getvalue() == data[5:50]

    with client.open(pushed.artifact_id, (100, 200)) as download:
        assert (download.offset, download.length, download.artifact.size) == (100, 100, len(data))
        assert b"".join(download) == data[100:200]

    with pytest.raises(OutOfRange):
        client.pull(pushed.artifact_id, byte_range=(len(data) + 1, None))
    with pytest.raises(NotFound):
        client.pull(str(uuid.uuid4()), tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()
    with pytest.raises(ValueError):
        client.pull(pushed.artifact_id, byte_range=(10, 10))


def test_stat_answers_the_metadata(client: ArtifactClient, run_id: str) -> None:
    data = b"stat me" * 1000
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    pushed = client.push(
        data,
        **producer(run_id, "reports/summary.html"),
        media_type="text/html",
        retention=Retention.DAYS_30,
        expected_size=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
    )
    artifact = client.stat(pushed.artifact_id)

    assert artifact.artifact_id == pushed.artifact_id
    assert (artifact.tenant, artifact.run_id, artifact.step_id) == (TENANT, run_id, "train")
    assert (artifact.agent, artifact.agent_version) == ("trainer", "1.4.2")
    assert (artifact.name, artifact.media_type) == ("reports/summary.html", "text/html")
    assert artifact.input_artifact_ids == ()
    assert (artifact.sha256, artifact.blake3, artifact.size) == (pushed.sha256, pushed.blake3, len(data))
    assert artifact.storage_backend == "local" and artifact.storage_uri == pushed.storage_uri
    assert artifact.retention == Retention.DAYS_30
    assert artifact.stored_at is not None and artifact.stored_at >= before
    assert artifact.expires_at is not None
    assert abs(artifact.expires_at - artifact.stored_at - timedelta(days=30)) < timedelta(minutes=1)
    assert artifact.expired is False
    assert artifact.blob_status == BlobStatus.STORED
    assert artifact.uploaded_by == "agent"
    assert artifact.sequence >= pushed.sequence

    kept = client.stat(client.push(b"keep me", **producer(run_id, "kept"), retention=Retention.KEEP).artifact_id)
    assert kept.retention == Retention.KEEP and kept.expires_at is None
    default = client.stat(client.push(b"default", **producer(run_id, "default")).artifact_id)
    assert default.retention == Retention.DAYS_90

    with pytest.raises(NotFound) as raised:
        client.stat(str(uuid.uuid4()))
    assert raised.value.code_name == "NOT_FOUND"


def test_list_walks_every_page_newest_first(client: ArtifactClient, run_id: str) -> None:
    pushed = [client.push(f"artifact {i}".encode(), **producer(run_id, f"part-{i}")) for i in range(5)]
    newest_first = [result.artifact_id for result in reversed(pushed)]

    pages = list(client.list_pages(TENANT, run_id=run_id, page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [artifact.artifact_id for page in pages for artifact in page] == newest_first
    assert [artifact.artifact_id for artifact in client.list(TENANT, run_id=run_id, page_size=2)] == newest_first
    assert [artifact.artifact_id for artifact in client.list(TENANT, run_id=run_id)] == newest_first
    named = list(client.list(TENANT, run_id=run_id, name="part-3"))
    assert [artifact.artifact_id for artifact in named] == [pushed[3].artifact_id]
    assert list(client.list(TENANT, run_id=f"{run_id}-none")) == []


def test_invalid_fields_are_named(client: ArtifactClient, run_id: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        client.push(
            b"x",
            **{**producer("", "x"), "tenant": "Not A Tenant"},
            inputs=["not-an-id"],
            expected_sha256="abc",
        )
    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {"tenant", "run_id", "input_artifact_ids[0]", "expected_sha256"} <= set(error.fields)
    assert all(violation.description for violation in error.field_violations)

    # Bytes that differ from what was expected name the field they broke.
    with pytest.raises(InvalidArgument) as raised:
        client.push(b"12345", **producer(run_id, "sized"), expected_size=4)
    assert raised.value.fields == ("expected_size_bytes",)
    with pytest.raises(InvalidArgument) as raised:
        client.push(b"12345", **producer(run_id, "digest"), expected_sha256=hashlib.sha256(b"other").hexdigest())
    assert raised.value.fields == ("expected_sha256",)
    # A chunk above the service's limit (1 MiB).
    with pytest.raises(InvalidArgument) as raised:
        client.push(os.urandom(MIB + 1), **producer(run_id, "huge-chunk"), chunk_size=MIB + 1)
    assert raised.value.fields == ("chunk",)
    assert list(client.list(TENANT, run_id=run_id)) == [], "nothing refused was stored"


def test_a_wrong_token_or_tenant_is_refused(ingest: Ingest, client: ArtifactClient, run_id: str) -> None:
    mine = client.push(b"acme's data", **producer(run_id, "mine"))

    stranger = ingest.client("gty_" + "0" * 64)
    with pytest.raises(Unauthenticated) as raised:
        stranger.stat(mine.artifact_id)
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(Unauthenticated):
        stranger.push(b"data", **producer(run_id, "stranger"))

    other = ingest.client("other")
    with pytest.raises(PermissionDenied):
        other.push(b"data", **producer(run_id, "not my tenant"))
    with pytest.raises(PermissionDenied):
        list(other.list(TENANT))
    with pytest.raises(NotFound):
        other.stat(mine.artifact_id, min_sequence=mine.sequence)

    # The platform team reads every tenant's artifacts.
    auditor = ingest.client("auditor")
    assert auditor.pull(mine.artifact_id, min_sequence=mine.sequence) == b"acme's data"


def test_a_failing_source_cancels_the_upload(client: ArtifactClient, run_id: str) -> None:
    class Broken(Exception):
        pass

    def source() -> Iterator[bytes]:
        yield os.urandom(MIB)
        yield os.urandom(1000)
        raise Broken("the disk went away")

    with pytest.raises(Broken):
        client.push(source(), **producer(run_id, "broken"))
    with pytest.raises(FileNotFoundError):
        client.push("/nonexistent/file.bin", **producer(run_id, "missing"))
    assert list(client.list(TENANT, run_id=run_id)) == [], "nothing was stored"


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
def test_a_large_push_keeps_memory_flat(client: ArtifactClient, run_id: str) -> None:
    block = os.urandom(MIB)
    total = 192 * MIB
    start = _resident_bytes()
    highest = start

    def stream() -> Iterator[bytes]:
        nonlocal highest
        for index in range(total // MIB):
            highest = max(highest, _resident_bytes())
            yield block[index % 7 :] + block[: index % 7]  # a fresh 1 MiB piece each time

    result = client.push(stream(), **producer(run_id, "large.bin"))
    assert result.size == total
    assert highest - start < 32 * MIB, f"resident set grew by {(highest - start) / MIB:.1f} MiB"


def test_corrupted_bytes_raise_data_loss_and_leave_no_file(
    client: ArtifactClient, run_id: str, tmp_path: Path
) -> None:
    data = os.urandom(2 * MIB)
    pushed = client.push(data, **producer(run_id, "to-corrupt.bin"))
    blob = Path(pushed.storage_uri.removeprefix("file://"))
    blob.chmod(0o600)
    with open(blob, "r+b") as file:
        file.seek(MIB + 3)
        file.write(bytes([data[MIB + 3] ^ 0xFF]))

    target = tmp_path / "to-corrupt.bin"
    with pytest.raises(DataLoss) as raised:
        client.pull(pushed.artifact_id, target)
    assert raised.value.code == grpc.StatusCode.DATA_LOSS
    assert list(tmp_path.iterdir()) == [], "neither the file nor a partial one"
    # The download recorded the blob corrupted (an event this client has no
    # sequence of: wait for the view).
    deadline = time.monotonic() + 10
    while client.stat(pushed.artifact_id).blob_status != BlobStatus.CORRUPTED:
        assert time.monotonic() < deadline, "the blob was not recorded corrupted"
        time.sleep(0.05)
    with pytest.raises(DataLoss):
        client.pull(pushed.artifact_id, byte_range=(0, 10))
