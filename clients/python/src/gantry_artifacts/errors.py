"""Errors of the artifact service, as one exception class per status code.

Every failed call raises an `ArtifactError` (or a subclass named after its
gRPC status code) carrying the code, the server's message and what the
status details say: the fields an INVALID_ARGUMENT names
(`google.rpc.BadRequest`), and for unknown lineage inputs
(FAILED_PRECONDITION) the ids that were not found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "AlreadyExists",
    "ArtifactError",
    "Cancelled",
    "DataLoss",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
]

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request: its name (`tenant`,
    `input_artifact_ids[2]`, `expected_sha256`, `chunk`, …) and what is wrong."""

    field: str
    description: str


class ArtifactError(Exception):
    """A call to the artifact service failed.

    Attributes:
        code: the gRPC status code (`grpc.StatusCode.NOT_FOUND`, …).
        message: the server's message.
        field_violations: the fields an INVALID_ARGUMENT named.
        missing_input_ids: the lineage inputs a FAILED_PRECONDITION reported
            unknown (empty for any other failure).
    """

    code: grpc.StatusCode
    message: str
    field_violations: tuple[FieldViolation, ...]
    missing_input_ids: tuple[str, ...]

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        field_violations: tuple[FieldViolation, ...] = (),
        missing_input_ids: tuple[str, ...] = (),
    ) -> None:
        self.code = code
        self.message = message
        self.field_violations = field_violations
        self.missing_input_ids = missing_input_ids
        super().__init__(str(self))

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable (e.g. across multiprocessing) despite the keyword arguments.
        return (_rebuild, (type(self), self.code, self.message, self.field_violations, self.missing_input_ids))

    @property
    def code_name(self) -> str:
        """The status code's name, e.g. `INVALID_ARGUMENT`."""
        return self.code.name

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the invalid fields, in the server's order."""
        return tuple(violation.field for violation in self.field_violations)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.field_violations and not all(v.field in self.message for v in self.field_violations):
            text += " (" + "; ".join(f"{v.field}: {v.description}" for v in self.field_violations) + ")"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, message={self.message!r})"


def _rebuild(
    kind: type[ArtifactError],
    code: grpc.StatusCode,
    message: str,
    field_violations: tuple[FieldViolation, ...],
    missing_input_ids: tuple[str, ...],
) -> ArtifactError:
    return kind(code, message, field_violations=field_violations, missing_input_ids=missing_input_ids)


class Cancelled(ArtifactError):
    """CANCELLED: the call was cut off (an upload stored nothing)."""


class InvalidArgument(ArtifactError):
    """INVALID_ARGUMENT: see `field_violations`."""


class NotFound(ArtifactError):
    """NOT_FOUND: no such artifact, or one of a tenant the caller may not read."""


class AlreadyExists(ArtifactError):
    """ALREADY_EXISTS."""


class PermissionDenied(ArtifactError):
    """PERMISSION_DENIED: the caller is not a member of the tenant."""


class Unauthenticated(ArtifactError):
    """UNAUTHENTICATED: no token, or a token the service does not know."""


class FailedPrecondition(ArtifactError):
    """FAILED_PRECONDITION: unknown lineage inputs (`missing_input_ids`), or
    the bytes of an expired or deleted artifact."""


class OutOfRange(ArtifactError):
    """OUT_OF_RANGE: a byte range that starts past the end."""


class Unavailable(ArtifactError):
    """UNAVAILABLE: the service, its log or its store cannot answer now; retry."""


class DataLoss(ArtifactError):
    """DATA_LOSS: the stored bytes are corrupted; discard what was received."""


_BY_CODE: dict[grpc.StatusCode, type[ArtifactError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DATA_LOSS: DataLoss,
}


def _status_details(error: grpc.RpcError) -> status_pb2.Status | None:
    trailing: Any = error.trailing_metadata() if callable(getattr(error, "trailing_metadata", None)) else None
    for key, value in trailing or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None


def _missing_inputs(message: str, status: status_pb2.Status | None) -> tuple[str, ...]:
    """The unknown lineage inputs: from a `google.rpc.PreconditionFailure`
    when the server sends one, else the ids its message lists after
    "unknown lineage inputs …:"."""
    ids: list[str] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            ids += [v.subject for v in failure.violations if _UUID.fullmatch(v.subject)]
    if ids:
        return tuple(ids)
    if "unknown lineage input" in message and ":" in message:
        return tuple(_UUID.findall(message.rsplit(":", 1)[1]))
    return ()


def from_rpc_error(error: grpc.RpcError) -> ArtifactError:
    """Turns a failed call into the `ArtifactError` of its status code."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    message = (error.details() if callable(getattr(error, "details", None)) else None) or str(error)
    status = _status_details(error)
    violations: list[FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
    missing = _missing_inputs(message, status) if code == grpc.StatusCode.FAILED_PRECONDITION else ()
    kind = _BY_CODE.get(code, ArtifactError)
    return kind(code, message, field_violations=tuple(violations), missing_input_ids=missing)
