"""Python client of Gantry's artifact store (`gantry.artifacts.v1.ArtifactService`).

    from gantry_artifacts import ArtifactClient

    with ArtifactClient("127.0.0.1:50053", token) as client:
        result = client.push("out/report.html", tenant="team-ml", run_id="run-7",
                             step_id="report", agent="reporter", agent_version="1.2.0",
                             name="reports/summary.html", media_type="text/html")

See README.md beside this package for an agent pushing an output with its inputs.
"""

from .client import DEFAULT_CHUNK_SIZE, ArtifactClient, Download, Source, iter_chunks
from .errors import (
    AlreadyExists,
    ArtifactError,
    Cancelled,
    DataLoss,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from .models import Artifact, BlobStatus, PushResult, Retention, VerifyResult

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "AlreadyExists",
    "Artifact",
    "ArtifactClient",
    "ArtifactError",
    "BlobStatus",
    "Cancelled",
    "DataLoss",
    "Download",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "PushResult",
    "Retention",
    "Source",
    "Unauthenticated",
    "Unavailable",
    "VerifyResult",
    "iter_chunks",
]
