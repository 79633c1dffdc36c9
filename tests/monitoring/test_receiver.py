"""slipway's alert receiver: the dedupe and cool-down decision, the state file, the HTTP app.

The retraining action is a recording function here (the end-to-end test runs the real
training workflow); everything else is the real receiver on a loopback port.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway.config import RetrainingSettings
from slipway.local.processes import free_port
from slipway.monitoring.receiver import (
    Notification,
    Receiver,
    ReceiverState,
    Retraining,
    decide,
    serve,
)

SETTINGS = RetrainingSettings(cooldown_seconds=600)


def alert(model: str = "churn", name: str = "SlipwayDriftDetected", status: str = "firing",
          fingerprint: str = "f1") -> dict[str, Any]:  # fmt: skip
    return {
        "status": status,
        "labels": {"alertname": name, "model": model, "version": "3", "severity": "warning"},
        "annotations": {"summary": "drift"},
        "fingerprint": fingerprint,
        "startsAt": "2026-12-02T04:00:00Z",
    }


def notification(*alerts: dict[str, Any]) -> Notification:
    return Notification.model_validate({"version": "4", "status": "firing", "alerts": alerts})


def test_one_incident_starts_one_retraining_per_model() -> None:
    starts, folded = decide(
        notification(alert(), alert(fingerprint="f2"), alert("other")), ReceiverState(), SETTINGS, 0
    )
    assert sorted(s.model for s in starts) == ["churn", "other"]
    assert folded == 1


def test_the_cool_down_folds_later_alerts_and_then_lets_one_through() -> None:
    state = ReceiverState(
        retrainings=[
            Retraining(
                model="churn",
                alert="x",
                fingerprint="f",
                started=100.0,
                finished=200.0,
                status="succeeded",
            )
        ]
    )
    assert decide(notification(alert()), state, SETTINGS, 650.0) == ([], 1)
    starts, _ = decide(notification(alert()), state, SETTINGS, 701.0)
    assert [s.model for s in starts] == ["churn"]


def test_a_running_retraining_folds_alerts_even_past_the_cool_down() -> None:
    state = ReceiverState(
        retrainings=[Retraining(model="churn", alert="x", fingerprint="f", started=0.0)]
    )
    assert decide(notification(alert()), state, SETTINGS, 10_000.0) == ([], 1)


def test_resolved_other_and_unlabelled_alerts_start_nothing() -> None:
    unlabelled = alert()
    del unlabelled["labels"]["model"]
    starts, folded = decide(
        notification(alert(status="resolved"), alert(name="SlipwayMLflowDown"), unlabelled),
        ReceiverState(),
        SETTINGS,
        0,
    )
    assert (starts, folded) == ([], 0)


class Recorder:
    def __init__(self) -> None:
        self.jobs: list[Retraining] = []
        self.release = threading.Event()

    def __call__(self, job: Retraining) -> dict[str, Any]:
        self.jobs.append(job)
        self.release.wait(10)
        return {"status": "succeeded", "registered_version": "4"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[str, Receiver, Recorder]]:
    recorder = Recorder()
    receiver = Receiver(tmp_path, SETTINGS, recorder)
    port = free_port()
    server = serve(receiver, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", receiver, recorder
    recorder.release.set()
    server.shutdown()
    server.server_close()
    receiver.close()


def test_repeated_deliveries_start_one_run(app: tuple[str, Receiver, Recorder]) -> None:
    url, receiver, recorder = app
    body = notification(alert()).model_dump(mode="json")
    answers = [httpx.post(f"{url}/alerts", json=body, timeout=10).json() for _ in range(3)]
    assert answers == [{"started": ["churn"]}, {"started": []}, {"started": []}]
    recorder.release.set()
    receiver.wait_idle()
    state = httpx.get(f"{url}/retrainings", timeout=10).json()
    assert [r["status"] for r in state["retrainings"]] == ["succeeded"]
    assert state["retrainings"][0]["detail"]["registered_version"] == "4"
    assert state["ignored"] == 2
    assert len(recorder.jobs) == 1


def test_the_cool_down_survives_a_restart(tmp_path: Path) -> None:
    first = Receiver(tmp_path, SETTINGS, Recorder(), clock=lambda: 1000.0)
    assert [s.model for s in first.notify(notification(alert()))] == ["churn"]
    first.close()
    second = Receiver(tmp_path, SETTINGS, Recorder(), clock=lambda: 1100.0)
    assert second.notify(notification(alert())) == []
    second.close()


def test_a_failing_retraining_is_recorded_and_the_receiver_lives_on(tmp_path: Path) -> None:
    def broken(job: Retraining) -> dict[str, Any]:
        raise RuntimeError("no data")

    receiver = Receiver(tmp_path, RetrainingSettings(cooldown_seconds=0), broken)
    receiver.notify(notification(alert()))
    receiver.wait_idle()
    (run,) = receiver.state().retrainings
    assert run.status == "error" and "no data" in run.detail["error"]
    assert [s.model for s in receiver.notify(notification(alert()))] == ["churn"]
    receiver.close()


def test_bad_payloads_and_routes(app: tuple[str, Receiver, Recorder]) -> None:
    url, _, recorder = app
    response = httpx.post(f"{url}/alerts", content=b'{"alerts": "no"}', timeout=10)
    assert response.status_code == 400
    assert "Alertmanager" in response.json()["error"]
    assert httpx.post(f"{url}/nowhere", json={}, timeout=10).status_code == 404
    assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
    assert recorder.jobs == []


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_a_bad_content_length_gets_a_400_not_a_dropped_connection(
    app: tuple[str, Receiver, Recorder], length: str
) -> None:
    """Raw HTTP, as a hostile client sends it: httpx would refuse to send such a header."""
    url, _, recorder = app
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            f"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
        )
        chunks = []
        while chunk := conn.recv(65536):  # the receiver closes the connection after it
            chunks.append(chunk)
        answer = b"".join(chunks).decode()
    assert answer.startswith("HTTP/1.0 400") or answer.startswith("HTTP/1.1 400"), answer
    assert "Content-Length" in answer.split("\r\n\r\n", 1)[1]
    assert recorder.jobs == []
