"""Payload recording: sampling, the file format, rotation, the predictor's hook, reading back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slipway.config import PayloadSettings
from slipway.data.synthetic import generate
from slipway.errors import DataError
from slipway.monitoring import payloads
from slipway.serving.payload_log import HEADER, PayloadLog, from_settings, version_directory
from slipway.serving.predictor import SlipwayPredictor

COLUMNS = ("a", "b")


def settings(tmp_path: Path, **kw: object) -> PayloadSettings:
    return PayloadSettings(directory=tmp_path, flush_seconds=60, **kw)  # type: ignore[arg-type]


def test_off_by_default_and_at_zero_rate(tmp_path: Path) -> None:
    assert PayloadSettings().sample_rate == 0
    assert from_settings("m", "1", COLUMNS, settings(tmp_path, sample_rate=0.0)) is None


def test_records_rows_scores_and_ids_under_a_header(tmp_path: Path) -> None:
    log = PayloadLog("m", "3", COLUMNS, settings(tmp_path, sample_rate=1.0))
    log.record([[1.0, "x"], [2.0, "y"]], np.array([0.25, 0.75]), "req-1")
    log.record([[3.0, None]], np.array([0.5]), None)
    log.close()
    (path,) = version_directory(tmp_path, "m", "3").glob("payloads-*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"kind": HEADER, "model": "m", "version": "3", "columns": ["a", "b"]}
    assert lines[1]["request_id"] == "req-1"
    assert lines[1]["rows"] == [[1.0, "x"], [2.0, "y"]]
    assert lines[1]["scores"] == [0.25, 0.75]
    assert len(lines[2]["request_id"]) == 32  # generated for a request without an id
    frame = payloads.read_folder(tmp_path, "m", "3")
    assert list(frame["a"]) == [1.0, 2.0, 3.0]
    assert list(frame["row"]) == [0, 1, 0]
    assert list(frame["score"]) == [0.25, 0.75, 0.5]


def test_sampling_is_by_rate(tmp_path: Path) -> None:
    log = PayloadLog("m", "1", COLUMNS, settings(tmp_path, sample_rate=0.2), seed=7)
    for i in range(2000):
        log.record([[float(i), "x"]], np.array([0.5]), f"r{i}")
    log.close()
    recorded = len(payloads.read_folder(tmp_path, "m", "1"))
    assert 320 <= recorded <= 480  # 2000 * 0.2, within about 5 standard deviations


def test_rotates_and_keeps_at_most_max_files(tmp_path: Path) -> None:
    log = PayloadLog(
        "m", "1", COLUMNS, settings(tmp_path, sample_rate=1.0, max_file_bytes=4096, max_files=3)
    )
    for i in range(60):
        log.record([[float(i), "x"]] * 20, np.full(20, 0.5), f"r{i}")
        log.flush()  # each flush writes ~600 bytes: a new file every ~7 flushes
    log.close()
    files = list(version_directory(tmp_path, "m", "1").glob("payloads-*.jsonl"))
    assert len(files) == 3
    assert all(f.stat().st_size < 4096 + 1024 for f in files)
    kept = payloads.read_folder(tmp_path, "m", "1")
    assert kept["request_id"].iloc[-1] == "r59"  # the newest survive
    assert "r0" not in set(kept["request_id"])


def test_the_background_thread_flushes(tmp_path: Path) -> None:
    log = PayloadLog(
        "m", "1", COLUMNS, PayloadSettings(directory=tmp_path, sample_rate=1.0, flush_seconds=0.05)
    )
    log.record([[1.0, "x"]], np.array([0.5]), "r")
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and payloads.read_folder(tmp_path, "m", "1").empty:
        time.sleep(0.05)
    assert len(payloads.read_folder(tmp_path, "m", "1")) == 1
    log.close()


def test_reading_a_window_and_a_torn_last_line(tmp_path: Path) -> None:
    folder = version_directory(tmp_path, "m", "1")
    folder.mkdir(parents=True)
    header = json.dumps({"kind": HEADER, "model": "m", "version": "1", "columns": ["a"]})
    old = json.dumps({"time": 100.0, "request_id": "old", "rows": [[1]], "scores": [0.1]})
    new = json.dumps({"time": 200.0, "request_id": "new", "rows": [[2]], "scores": [0.2]})
    (folder / "payloads-1.jsonl").write_text(f'{header}\n{old}\n{new}\n{{"time": 3')
    frame = payloads.read_folder(tmp_path, "m", "1", since=150.0)
    assert list(frame["request_id"]) == ["new"]


def test_a_record_before_any_header_is_an_error(tmp_path: Path) -> None:
    folder = version_directory(tmp_path, "m", "1")
    folder.mkdir(parents=True)
    (folder / "payloads-1.jsonl").write_text(
        json.dumps({"time": 1.0, "request_id": "x", "rows": [[1]], "scores": [0.1]}) + "\n"
    )
    with pytest.raises(DataError, match="before the file's header"):
        payloads.read_folder(tmp_path, "m", "1")


def test_the_predictor_records_what_it_serves(bundle_dir: Path, tmp_path: Path) -> None:
    """The real predictor (both its lean path and KServe's predict hook) feeds the log."""
    model = SlipwayPredictor("churn", bundle_dir, version="4", metrics_enabled=False)
    model.load()
    model.payload_log = from_settings(
        "churn", "4", model.preprocessor.input_names, settings(tmp_path, sample_rate=1.0)
    )
    assert model.payload_log is not None
    rows = generate(5, seed=1).drop(columns=["churned"]).to_dict("records")
    response = model.infer("v1", {"instances": rows})
    body = {
        "id": "ticket-9",
        "inputs": [
            {"name": c, "datatype": "BYTES" if isinstance(rows[0][c], str) else "FP64",
             "shape": [1], "data": [rows[0][c]]}
            for c in model.preprocessor.input_names
        ],
    }  # fmt: skip
    model.infer("v2", body)
    model.payload_log.close()
    served = payloads.read_folder(tmp_path, "churn", "4")
    assert len(served) == 6
    assert served["request_id"].iloc[-1] == "ticket-9"
    served_scores = [p["probabilities"][1] for p in response["predictions"]]  # type: ignore[index]
    assert served["score"].iloc[:5].tolist() == pytest.approx(served_scores)
    assert served["monthly_charges"].iloc[:5].tolist() == pytest.approx(
        [r["monthly_charges"] for r in rows]
    )


def test_kserve_routes_record_too(bundle_dir: Path, tmp_path: Path) -> None:
    """Through KServe's own preprocess -> predict hooks (lean_http off), with the v2 id."""
    import asyncio

    from kserve.protocol.infer_type import InferInput, InferRequest

    model = SlipwayPredictor("churn", bundle_dir, version="5", metrics_enabled=False)
    model.load()
    model.payload_log = from_settings(
        "churn", "5", model.preprocessor.input_names, settings(tmp_path, sample_rate=1.0)
    )
    assert model.payload_log is not None
    row = generate(1, seed=2).drop(columns=["churned"]).iloc[0].to_dict()
    inputs = []
    for name in model.preprocessor.input_names:
        value = row[name]
        datatype = "BYTES" if isinstance(value, str) else "FP64"
        inputs.append(InferInput(name, [1], datatype, data=[value]))
    request = InferRequest("churn", inputs, request_id="kserve-1")
    batch = asyncio.run(model.preprocess(request))
    model.predict(batch)
    model.payload_log.close()
    served = payloads.read_folder(tmp_path, "churn", "5")
    assert list(served["request_id"]) == ["kserve-1"]
    assert served["score"].iloc[0] == pytest.approx(float(batch.scores[0]))


def test_numpy_scalars_in_rows_are_recorded_as_numbers(tmp_path: Path) -> None:
    """Binary tensors give rows of numpy scalars; they are written as plain JSON numbers."""
    log = PayloadLog("m", "1", COLUMNS, settings(tmp_path, sample_rate=1.0))
    log.record([[np.float32(1.5), np.str_("x")]], np.array([0.5]), "r")
    log.close()
    frame = payloads.read_folder(tmp_path, "m", "1")
    assert frame["a"].tolist() == [1.5] and frame["b"].tolist() == ["x"]
