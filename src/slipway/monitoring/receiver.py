"""slipway's alert receiver: an Alertmanager webhook that starts retraining, once per incident.

Alertmanager posts its webhook payload (version 4) to ``/alerts``. For each firing alert
whose name is in ``monitoring.retraining.alerts`` the receiver decides, per model:

- an incident already retraining (or retrained within ``cooldown_seconds``) starts
  nothing: Alertmanager's repeats, a second alert for the same model and a flapping
  alert all fold into the run already started;
- otherwise one retraining starts, in a background worker, one at a time.

The decision (``decide``) is pure; the record of what started when is a state file
(``monitoring/retraining.json`` in the state folder), read and written under a lock, so a
restarted receiver keeps its cool-downs and two deliveries at once start one run.

A retraining is the training workflow, run here by the local executor with every gate:
validation, the evaluation gate and the canary. Drift never promotes by itself: the new
version is registered only if it passes the gate, and served only if its canary does.
On the cluster this receiver is not used: the CronWorkflow (or an Argo Events sensor)
submits the WorkflowTemplate.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slipway.config import RetrainingSettings
from slipway.state_files import locked, read_json, write_json

log = logging.getLogger(__name__)

STATE_FILE = Path("monitoring") / "retraining.json"
MAX_BODY = 1_048_576


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = ""
    startsAt: str = ""


class Notification(BaseModel):
    """Alertmanager's webhook payload (the fields used here)."""

    model_config = ConfigDict(extra="ignore")

    version: str = "4"
    status: str
    alerts: list[Alert]


class Retraining(BaseModel):
    """One retraining the receiver started, and how it ended."""

    model: str
    version: str | None = None  # the version the alert was about
    alert: str
    fingerprint: str
    started: float
    finished: float | None = None
    status: str = "running"  # running | succeeded | failed | error
    detail: dict[str, Any] = Field(default_factory=dict)


class ReceiverState(BaseModel):
    retrainings: list[Retraining] = Field(default_factory=list)
    ignored: int = 0  # alerts folded into a run already started (dedupe, cool-down)

    def last_for(self, model: str) -> Retraining | None:
        runs = [r for r in self.retrainings if r.model == model]
        return max(runs, key=lambda r: r.started) if runs else None


def decide(
    notification: Notification, state: ReceiverState, settings: RetrainingSettings, now: float
) -> tuple[list[Retraining], int]:
    """The retrainings this notification starts, and how many of its alerts it folds.

    Per model, at most one; none while one runs or within the cool-down of the last."""
    starts: dict[str, Retraining] = {}
    folded = 0
    for alert in notification.alerts:
        name = alert.labels.get("alertname", "")
        if alert.status != "firing" or name not in settings.alerts:
            continue
        model = alert.labels.get("model")
        if not model:
            log.warning("alert %s has no model label: nothing to retrain", name)
            continue
        last = state.last_for(model)
        busy = last is not None and last.status == "running"
        cooling = last is not None and now - last.started < settings.cooldown_seconds
        if model in starts or busy or cooling:
            folded += 1
            continue
        starts[model] = Retraining(
            model=model,
            version=alert.labels.get("version"),
            alert=name,
            fingerprint=alert.fingerprint,
            started=now,
        )
    return list(starts.values()), folded


Retrain = Callable[[Retraining], dict[str, Any]]


class Receiver:
    """The decisions, the state file and the worker that runs retrainings one at a time."""

    def __init__(
        self,
        state_dir: Path,
        settings: RetrainingSettings,
        retrain: Retrain,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_file = state_dir / STATE_FILE
        self.settings = settings
        self.retrain = retrain
        self.clock = clock
        self._work: queue.Queue[Retraining | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="retraining", daemon=True)
        self._worker.start()

    def state(self) -> ReceiverState:
        raw = read_json(self.state_file, "the alert receiver's state")
        return ReceiverState.model_validate(raw) if raw is not None else ReceiverState()

    def notify(self, notification: Notification) -> list[Retraining]:
        """Decide and record under the lock, then queue what starts."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.state_file):
            state = self.state()
            starts, folded = decide(notification, state, self.settings, self.clock())
            state.retrainings.extend(starts)
            state.ignored += folded
            write_json(self.state_file, state.model_dump(mode="json"))
        for start in starts:
            log.info("retraining %s on alert %s", start.model, start.alert)
            self._work.put(start)
        return starts

    def _finish(self, started: Retraining, status: str, detail: dict[str, Any]) -> None:
        with locked(self.state_file):
            state = self.state()
            for run in state.retrainings:
                if run.model == started.model and run.started == started.started:
                    run.status, run.detail, run.finished = status, detail, self.clock()
            write_json(self.state_file, state.model_dump(mode="json"))

    def _run(self) -> None:
        while (job := self._work.get()) is not None:
            try:
                detail = self.retrain(job)
                status = str(detail.get("status", "succeeded"))
            except Exception as exc:  # a failed retraining is recorded, the receiver lives on
                log.exception("retraining %s failed", job.model)
                status, detail = "error", {"error": f"{type(exc).__name__}: {exc}"}
            self._finish(job, status, detail)
            self._work.task_done()

    def wait_idle(self) -> None:
        """Block until every queued retraining has finished (tests, shutdown)."""
        self._work.join()

    def close(self) -> None:
        self._work.put(None)
        self._worker.join(timeout=5)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: HTTPStatus, body: Mapping[str, Any] | Sequence[Any]) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(HTTPStatus.OK, {"status": "ok"})
            elif self.path == "/retrainings":
                self._answer(HTTPStatus.OK, receiver.state().model_dump(mode="json"))
            else:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
                return
            raw_length = self.headers.get("Content-Length") or "0"
            # int() alone would raise on "abc" (the connection closed with no answer) and
            # take "-5", which makes read() wait for the client to hang up.
            if not raw_length.isdigit():
                self.close_connection = True
                self._answer(
                    HTTPStatus.BAD_REQUEST,
                    {"error": f"Content-Length: {raw_length!r} is not a non-negative integer"},
                )
                return
            length = int(raw_length)
            if length > MAX_BODY:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                return
            try:
                notification = Notification.model_validate_json(self.rfile.read(length))
            except ValidationError as exc:
                self._answer(
                    HTTPStatus.BAD_REQUEST,
                    {"error": "not an Alertmanager webhook payload", "details": exc.errors()},
                )
                return
            started = receiver.notify(notification)
            self._answer(HTTPStatus.OK, {"started": [s.model for s in started]})

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


def serve(receiver: Receiver, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for ``receiver`` (call ``serve_forever`` on it)."""
    return ThreadingHTTPServer((host, port), _handler(receiver))
