"""What the artifact service answers, as plain frozen dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from ._proto.gantry.artifacts.v1 import artifacts_pb2
from ._proto.gantry.events.v1 import artifacts_pb2 as events_pb2

__all__ = ["Artifact", "BlobStatus", "PushResult", "Retention", "VerifyResult"]


class Retention(enum.IntEnum):
    """How long an artifact is kept (the service's default: 90 days)."""

    DAYS_30 = events_pb2.RETENTION_POLICY_DAYS_30
    DAYS_90 = events_pb2.RETENTION_POLICY_DAYS_90
    DAYS_365 = events_pb2.RETENTION_POLICY_DAYS_365
    KEEP = events_pb2.RETENTION_POLICY_KEEP


class BlobStatus(enum.IntEnum):
    """The integrity of an artifact's bytes, as the last check found it."""

    UNSPECIFIED = artifacts_pb2.BLOB_STATUS_UNSPECIFIED
    STORED = artifacts_pb2.BLOB_STATUS_STORED
    VERIFIED = artifacts_pb2.BLOB_STATUS_VERIFIED
    CORRUPTED = artifacts_pb2.BLOB_STATUS_CORRUPTED
    DELETED = artifacts_pb2.BLOB_STATUS_DELETED
    DELETING = artifacts_pb2.BLOB_STATUS_DELETING

    @classmethod
    def _missing_(cls, value: object) -> BlobStatus:
        # A status a newer service added.
        return cls.UNSPECIFIED


def _retention(value: int) -> Retention | None:
    """None for unspecified (or a policy a newer service added)."""
    try:
        return Retention(value)
    except ValueError:
        return None


def _time(message: artifacts_pb2.Artifact, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    timestamp: Timestamp = getattr(message, field)
    return timestamp.ToDatetime(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact as the service knows it."""

    artifact_id: str
    tenant: str
    run_id: str
    step_id: str
    agent: str
    agent_version: str
    name: str
    media_type: str
    input_artifact_ids: tuple[str, ...]
    retention: Retention | None
    sha256: str
    blake3: str
    size: int
    storage_backend: str
    storage_uri: str
    stored_at: datetime | None
    #: None: kept forever.
    expires_at: datetime | None
    expired: bool
    blob_status: BlobStatus
    #: The authenticated principal that uploaded it.
    uploaded_by: str
    #: Stream sequence of its last event (pass as `min_sequence`).
    sequence: int

    @classmethod
    def from_proto(cls, message: artifacts_pb2.Artifact) -> Artifact:
        return cls(
            artifact_id=message.artifact_id,
            tenant=message.tenant,
            run_id=message.run_id,
            step_id=message.step_id,
            agent=message.agent,
            agent_version=message.agent_version,
            name=message.name,
            media_type=message.media_type,
            input_artifact_ids=tuple(message.input_artifact_ids),
            retention=_retention(message.retention),
            sha256=message.sha256,
            blake3=message.blake3,
            size=message.size_bytes,
            storage_backend=message.storage_backend,
            storage_uri=message.storage_uri,
            stored_at=_time(message, "stored_at"),
            expires_at=_time(message, "expires_at"),
            expired=message.expired,
            blob_status=BlobStatus(message.blob_status),
            uploaded_by=message.uploaded_by,
            sequence=message.sequence,
        )


@dataclass(frozen=True, slots=True)
class PushResult:
    """The answer to a push: the stored artifact's id, digests, size and
    place, whether its bytes were there already, and the sequence of its
    event (what `min_sequence` of a later read or lineage upload waits for).
    """

    artifact_id: str
    #: Lower-case hex SHA-256 of the bytes (the content address).
    sha256: str
    #: Lower-case hex BLAKE3 of the bytes.
    blake3: str
    size: int
    #: `file:///…` or `s3://bucket/key`.
    storage_uri: str
    #: True when the same bytes were stored already (nothing new written).
    already_stored: bool
    sequence: int
    #: Everything the service answered about the artifact.
    artifact: Artifact

    @classmethod
    def from_proto(cls, message: artifacts_pb2.UploadResponse) -> PushResult:
        artifact = Artifact.from_proto(message.artifact)
        return cls(
            artifact_id=artifact.artifact_id,
            sha256=artifact.sha256,
            blake3=artifact.blake3,
            size=artifact.size,
            storage_uri=artifact.storage_uri,
            already_stored=message.already_stored,
            sequence=message.sequence,
            artifact=artifact,
        )


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The answer to `verify`: blobs that matched, and those that did not."""

    verified: int
    corrupted: int
    corrupted_sha256: tuple[str, ...]
    sequence: int
