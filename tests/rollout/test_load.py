"""The load step (slipway.rollout.load): its bounds, its rows, its settings.

The bounds are counted on a real HTTP server (the standard library's, on loopback) that
notes when each request arrived; the contract's rows are sent to a real predictor process
(KServe ModelServer, the shared trained world), which must answer every one with 200.
Recorded payloads are written by the predictor's own recorder (PayloadLog) and replayed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from serving_support import MODEL, VALID, World

from slipway.config import PayloadSettings, load_settings
from slipway.config.rollout import LoadSettings, RolloutSettings
from slipway.data.contract import load_contract
from slipway.errors import ConfigError
from slipway.rollout.load import LoadGenerator, contract_rows, load_for, recorded_rows
from slipway.serving.payload_log import PayloadLog


class Counting(ThreadingHTTPServer):
    def __init__(self, status: int = 200) -> None:
        self.arrivals: list[float] = []
        self.bodies: list[Any] = []
        self.status = status
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Counting

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.arrivals.append(time.monotonic())
            self.server.bodies.append(body)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[Counting]:
    srv = Counting()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def contract() -> Any:
    return load_contract(load_settings().data.contract)


def test_rate_and_duration_are_ceilings(server: Counting) -> None:
    rows = contract_rows(contract(), 50, seed=1)
    started = time.monotonic()
    load = LoadGenerator(server.url, MODEL, rows, rate=40, duration=2.0, clients=4).start()
    counts = load.wait()
    elapsed = time.monotonic() - started
    # 40/s for 2 s: at most 80 requests, none started after 2 s. Fewer when the machine
    # stalls the clients (a stall is not made up in a burst), but most of them.
    assert counts.sent == len(server.arrivals) == counts.ok
    assert 40 <= counts.sent <= 80, counts
    assert counts.errors == 0
    assert max(server.arrivals) - started < 2.0 + 0.5
    assert elapsed < 3.0
    # No second holds more than the rate (a small tolerance for arrival jitter).
    per_second = np.histogram(np.array(server.arrivals) - started, bins=[0, 1, 2, 3])[0]
    assert per_second.max() <= 40 + 2, per_second


def test_stopping_ends_an_open_ended_load(server: Counting) -> None:
    """duration none: the load runs until the rollout ends (the context exits)."""
    rows = contract_rows(contract(), 10, seed=1)
    with LoadGenerator(server.url, MODEL, rows, rate=20, clients=2) as load:
        time.sleep(1.0)
    stopped_at = len(server.arrivals)
    time.sleep(0.5)
    assert len(server.arrivals) == stopped_at  # nothing sent after the stop
    assert 15 <= load.counts.sent <= 21, load.counts


def test_errors_are_counted(server: Counting) -> None:
    server.status = 500
    load = LoadGenerator(server.url, MODEL, [dict(VALID)], rate=20, duration=0.5).start()
    counts = load.wait()
    assert counts.sent > 0 and counts.ok == 0 and counts.errors == counts.sent
    assert counts.statuses == {"500": counts.sent}
    # No server at all: every request an error, named by its exception.
    gone = LoadGenerator("http://127.0.0.1:9", MODEL, [dict(VALID)], rate=10, duration=0.3)
    counts = gone.start().wait()
    assert counts.sent > 0 and counts.errors == counts.sent and counts.ok == 0


def test_contract_rows_are_seeded_and_within_the_contract() -> None:
    spec = contract()
    rows = contract_rows(spec, 300, seed=5)
    assert rows == contract_rows(spec, 300, seed=5)
    assert rows != contract_rows(spec, 300, seed=6)
    for column in spec.columns:
        if column.name == spec.label:
            assert all(column.name not in row for row in rows)
            continue
        values = [row[column.name] for row in rows]
        if column.categories:
            assert set(values) == set(column.categories)
        else:
            assert column.min is not None and column.max is not None
            assert all(column.min <= v <= column.max for v in values)
            if column.dtype == "int":
                assert all(isinstance(v, int) for v in values)


def test_contract_rows_pass_a_real_predictor(world: World) -> None:
    predictor = world.serve(world.versions[0])
    rows = contract_rows(contract(), 200, seed=3)
    load = LoadGenerator(predictor.url, MODEL, rows, rate=100, duration=1.5, clients=2)
    counts = load.start().wait()
    assert counts.sent >= 100
    assert counts.statuses == {"200": counts.sent}, counts


def test_recorded_payloads_are_replayed(server: Counting, tmp_path: Path) -> None:
    spec = contract()
    columns = [c.name for c in spec.columns if c.name != spec.label]
    recorded = contract_rows(spec, 20, seed=9)
    log = PayloadLog(MODEL, "4", columns, PayloadSettings(sample_rate=1, directory=tmp_path))
    for row in recorded:
        log.record([[row[c] for c in columns]], np.array([0.5]), None)
    log.flush()
    rows = recorded_rows(tmp_path, MODEL, "4")
    assert rows == recorded
    settings = LoadSettings(enabled=True, source="payloads", rate=50, duration_seconds=0.5)
    load = load_for(settings, server.url, MODEL, spec, tmp_path, champion_version="4")
    counts = load.start().wait()
    assert counts.sent == len(server.bodies) > 0
    sent = [body["instances"][0] for body in server.bodies]
    assert all(row in recorded for row in sent)


def test_bad_settings_are_rejected_with_the_field_named(tmp_path: Path) -> None:
    for bad in ({"rate": 0}, {"clients": 0}, {"duration_seconds": -1}, {"source": "kafka"},
                {"url": "ftp://x"}):  # fmt: skip
        with pytest.raises(ValidationError) as err:
            RolloutSettings(load=bad)
        assert next(iter(bad)) in str(err.value)
    spec = contract()
    with pytest.raises(ConfigError, match=r"rollout\.load\.url"):
        load_for(LoadSettings(enabled=True), None, MODEL, spec, tmp_path, "1")
    with pytest.raises(ConfigError, match="nothing recorded for churn-classifier version 7"):
        load_for(LoadSettings(enabled=True, source="payloads"), "http://x", MODEL, spec,
                 tmp_path, "7")  # fmt: skip
    with pytest.raises(ConfigError, match="rate"):
        LoadGenerator("http://x", MODEL, [dict(VALID)], rate=0)
    with pytest.raises(ConfigError, match="at least one row"):
        LoadGenerator("http://x", MODEL, [], rate=1)
