"""Starts a real ingest (`gantry serve ingest`) for the client's tests.

Each pytest process starts its own, as libs/testkit does for the Rust
tests: on a port the service picks (read back from its log), with its own
Postgres schema, JetStream stream and subject prefix, blob directory and
tokens file (made with `gantry admin token create`), and removes all of it
afterwards. So several runs (or pytest-xdist workers) never share anything.

Postgres and NATS are the local ones (`GANTRY_TEST_DATABASE_URL`,
`GANTRY_TEST_NATS_URL`, as in scripts/test.sh); the binary is `$GANTRY_BIN`,
else the workspace's debug build (`$CARGO_TARGET_DIR/debug/gantry`, else
`target/debug/gantry`). clients/python/test.sh builds it when missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from gantry_artifacts import ArtifactClient

REPO = Path(__file__).resolve().parents[3]
DATABASE_URL = os.environ.get("GANTRY_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("GANTRY_TEST_NATS_URL", "nats://127.0.0.1:4222")

#: Who the tests call as: an agent of tenant acme, one of globex, and the
#: platform team (reads every tenant's artifacts, runs Verify).
PRINCIPALS = {
    "agent": "tenant:acme",
    "other": "tenant:globex",
    "auditor": "platform-team",
    # The README's example agent (as `scripts/dev-up.sh` makes it).
    "team-ml-agent": "tenant:team-ml",
}
TENANT = "acme"


def gantry_binary() -> Path:
    if os.environ.get("GANTRY_BIN"):
        return Path(os.environ["GANTRY_BIN"]).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    return (target if target.is_absolute() else REPO / target) / "debug" / "gantry"


def _own_env() -> dict[str, str]:
    """The environment without any `GANTRY_*` setting of the caller's shell."""
    return {key: value for key, value in os.environ.items() if not key.startswith("GANTRY_")}


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Ingest:
    """A running `gantry serve ingest` of this test process."""

    address: str
    tokens: dict[str, str]
    directory: Path
    log_file: Path
    process: subprocess.Popen[bytes]
    names: dict[str, str]
    clients: list[ArtifactClient] = field(default_factory=list)

    @property
    def blob_root(self) -> Path:
        return self.directory / "blobs"

    def client(self, subject: str = "agent", **options: object) -> ArtifactClient:
        made = ArtifactClient(self.address, self.tokens.get(subject, subject), **options)  # type: ignore[arg-type]
        self.clients.append(made)
        return made

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def _listening_address(log_file: Path) -> str | None:
    """The gRPC address from the service's JSON log, once it listens."""
    if not log_file.exists():
        return None
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "grpc server listening" and "ArtifactService" in str(entry.get("services")):
            return str(entry["address"])
    return None


def start_ingest() -> Ingest:
    binary = gantry_binary()
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it with `cargo build -p gantry` (clients/python/test.sh does)")
    short = uuid.uuid4().hex[:16]
    names = {"schema": f"py_{short}", "stream": f"PY_{short}", "prefix": f"py{short}"}
    directory = Path(tempfile.mkdtemp(prefix="gantry-python-client-"))
    tokens_file = directory / "tokens.yaml"
    tokens = {}
    for subject, groups in PRINCIPALS.items():
        made = subprocess.run(
            [binary, "admin", "token", "create", "--subject", subject, "--groups", groups,
             "--tokens-file", tokens_file],
            check=True, capture_output=True, text=True, env=_own_env(),
        )
        tokens[subject] = made.stdout.strip()
    log_file = directory / "ingest.log"
    env = {
        **_own_env(),
        "GANTRY_DATABASE__URL": DATABASE_URL,
        "GANTRY_DATABASE__MAX_CONNECTIONS": "4",
        "GANTRY_NATS__URL": NATS_URL,
        "GANTRY_STREAM__NAME": names["stream"],
        "GANTRY_STREAM__SUBJECT_PREFIX": names["prefix"],
        "GANTRY_AUTH__TOKENS_FILE": str(tokens_file),
        "GANTRY_TELEMETRY__METRICS_LISTEN": "127.0.0.1:0",
        "GANTRY_TELEMETRY__LOG_FORMAT": "json",
        "GANTRY_INGEST__LISTEN": "127.0.0.1:0",
        "GANTRY_INGEST__SCHEMA": names["schema"],
        "GANTRY_INGEST__STORAGE__KIND": "filesystem",
        "GANTRY_INGEST__STORAGE__ROOT": str(directory / "blobs"),
    }
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [binary, "serve", "ingest", "--drain-timeout", "5"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    ingest = Ingest("", tokens, directory, log_file, process, names)
    deadline = time.monotonic() + 60
    while (address := _listening_address(log_file)) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            output = ingest.log()
            stop_ingest(ingest)
            pytest.fail(f"gantry serve ingest did not come up (exit {process.returncode}):\n{output}")
        time.sleep(0.1)
    ingest.address = address
    return ingest


def stop_ingest(ingest: Ingest) -> None:
    """Stops the service, drops its schema, deletes its stream and files."""
    for made in ingest.clients:
        made.close()
    if ingest.process.poll() is None:
        ingest.process.send_signal(signal.SIGTERM)
        try:
            ingest.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            ingest.process.kill()
            ingest.process.wait(timeout=5)
    problems = []
    try:
        drop_schema(ingest.names["schema"])
    except Exception as error:  # noqa: BLE001 - reported below, after the rest is cleaned
        problems.append(f"dropping schema {ingest.names['schema']}: {error}")
    try:
        delete_stream(ingest.names["stream"])
    except Exception as error:  # noqa: BLE001
        problems.append(f"deleting stream {ingest.names['stream']}: {error}")
    shutil.rmtree(ingest.directory, ignore_errors=True)
    if problems:
        raise RuntimeError("; ".join(problems))


def drop_schema(schema: str) -> None:
    """`DROP SCHEMA … CASCADE` with psql (scripts/lib.sh installs it)."""
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql not found (PostgreSQL's client)")
    subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DATABASE_URL,
         "-c", f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'],
        check=True, capture_output=True, timeout=30,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10", "PGOPTIONS": "-c client_min_messages=warning"},
    )


def delete_stream(stream: str) -> None:
    """Deletes a JetStream stream with one request on NATS' text protocol
    (`$JS.API.STREAM.DELETE.<name>`): a client library for one call of a
    test's clean-up is not worth the dependency."""
    url = urlparse(NATS_URL)
    inbox = f"_INBOX.gantry_python_{uuid.uuid4().hex[:12]}"
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 4222), timeout=10) as connection:
        reader = connection.makefile("rb")
        if not reader.readline().startswith(b"INFO "):
            raise RuntimeError(f"{NATS_URL} is not a NATS server")
        options: dict[str, object] = {"verbose": False, "pedantic": False, "name": "gantry-python-client-tests"}
        if url.username:
            options |= {"user": unquote(url.username), "pass": unquote(url.password or "")}
        connection.sendall(
            f"CONNECT {json.dumps(options)}\r\nSUB {inbox} 1\r\n"
            f"PUB $JS.API.STREAM.DELETE.{stream} {inbox} 0\r\n\r\n".encode()
        )
        while True:
            line = reader.readline()
            if not line:
                raise RuntimeError("NATS closed the connection before answering")
            if line.startswith(b"PING"):
                connection.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(f"NATS: {line.decode().strip()}")
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                answer = json.loads(reader.read(size + 2)[:size])
                # 10059: no such stream (already gone) is fine.
                if answer.get("success") or answer.get("error", {}).get("err_code") == 10059:
                    return
                raise RuntimeError(f"deleting stream {stream}: {answer}")


@pytest.fixture(scope="session")
def ingest() -> Iterator[Ingest]:
    running = start_ingest()
    try:
        yield running
    finally:
        stop_ingest(running)


@pytest.fixture
def client(ingest: Ingest) -> ArtifactClient:
    """A client calling as the agent of tenant acme."""
    return ingest.client("agent")


@pytest.fixture
def run_id() -> str:
    """A run of this test alone, so tests never see each other's artifacts."""
    return f"run-{uuid.uuid4().hex[:12]}"
