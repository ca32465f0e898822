"""The README's example runs as written, against the test's ingest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gantry_artifacts import PushResult, Retention

from .conftest import Ingest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_agent_example_pushes_an_output_with_its_inputs(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    example = next(block for block in blocks if "inputs=[" in block)
    assert '"127.0.0.1:50053"' in example

    # What the preparing step handed over: a dataset of tenant team-ml.
    preparer = ingest.client("team-ml-agent")
    dataset = preparer.push(
        b"id,label\n1,cat\n", tenant="team-ml", run_id="run-2026-12-01", step_id="prepare",
        agent="preparer", agent_version="0.3.0", name="data/train.csv", media_type="text/csv",
    )
    monkeypatch.setenv("AGENT_TOKEN", ingest.tokens["team-ml-agent"])
    monkeypatch.setenv("DATASET_ID", dataset.artifact_id)
    monkeypatch.setenv("DATASET_SEQUENCE", str(dataset.sequence))

    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(example.replace('"127.0.0.1:50053"', repr(ingest.address)), str(README), "exec"), namespace)

    pushed = namespace["model"]
    assert isinstance(pushed, PushResult)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{pushed.artifact_id} {pushed.sha256} {pushed.size} {pushed.storage_uri}", "stored"]
    model = preparer.stat(pushed.artifact_id, min_sequence=pushed.sequence)
    config = preparer.stat(model.input_artifact_ids[1])
    assert model.input_artifact_ids == (dataset.artifact_id, config.artifact_id)
    assert (config.name, model.name, model.size) == ("train/config.json", "train/model.onnx", 12 * 256 * 1024)
    assert model.retention == Retention.DAYS_365
