"""Run 4 of the demo: the served traffic drifts, the drift step finds it, the alert starts
retraining.

1. shifted rows (the demo data moved by ``workspace.DRIFT`` standard deviations) are sent
   through the router to the champion, which records what it serves (payload log);
2. the drift step (slipway.monitoring.step, Evidently) judges those served rows against
   the champion's training reference;
3. on drift, the alert is posted to slipway's alert receiver over HTTP, as Alertmanager
   posts its webhook (version 4 payload), and the receiver starts the retraining: the
   training workflow on the new data, up to ``register`` in the demo.
"""

from __future__ import annotations

import json
import threading
import time

import httpx

from slipway.data import synthetic
from slipway.demo.runs import Echo, RunRecord, champion
from slipway.demo.workspace import DRIFT, DRIFT_SEED, DemoFiles
from slipway.monitoring import payloads, step
from slipway.monitoring.receiver import Receiver, serve
from slipway.monitoring.retrain import local_retrain
from slipway.rollout.load import LoadGenerator
from slipway.runtime import Runtime

ALERT = "SlipwayDriftDetected"


def _shifted_rows(label: str) -> list[dict[str, object]]:
    frame = synthetic.generate(600, DRIFT_SEED + 100, drift=DRIFT).drop(columns=[label])
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def webhook(model: str, version: str, summary: str) -> dict[str, object]:
    """An Alertmanager webhook payload (version 4) carrying one firing drift alert."""
    return {
        "version": "4",
        "status": "firing",
        "receiver": "slipway-retraining",
        "groupKey": f'{{}}:{{alertname="{ALERT}"}}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": ALERT, "model": model, "version": version},
                "annotations": {"summary": summary},
                "fingerprint": f"demo-{model}-{version}",
                "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        ],
    }


def drift_and_retrain(
    runtime: Runtime, record: RunRecord, files: DemoFiles, router: str, echo: Echo
) -> None:
    from slipway.data.contract import load_contract

    settings = runtime.settings
    model = settings.tracking.model_name
    version = champion(runtime)
    assert version is not None, "run 4 follows runs 1-3: a champion serves"
    record.version = record.champion_before = version
    label = load_contract(settings.data.contract).label
    since = time.time()
    sent = LoadGenerator(router, model, _shifted_rows(label), rate=60, duration=5, clients=2)
    record.load = sent.start().wait()
    echo(f"run 4: sent {record.load.sent} shifted requests to version {version}")
    time.sleep(2 * settings.monitoring.payloads.flush_seconds + 0.5)  # the recorder's flush
    root = settings.monitoring.payloads.directory or runtime.state_dir / "payloads"
    served = payloads.read_folder(root, model, version, since)
    found = step.run(runtime.mlflow, settings, version=version, served=served)
    report = found.report
    record.facts["drift"] = report.summary()
    record.facts["drifted_columns"] = list(report.drifted_columns)
    record.facts["drift_share"] = report.drift_share
    echo(f"run 4: drift step: {report.summary()}")
    if not report.detected:
        record.decision, record.why = "no drift", report.summary()
        record.champion_after = champion(runtime)
        return
    receiver = Receiver(runtime.state_dir, settings.monitoring.retraining, local_retrain(runtime))
    server = serve(receiver, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
        answer = httpx.post(url, json=webhook(model, version, report.summary()), timeout=10)
        answer.raise_for_status()
        started = answer.json()["started"]
        record.facts["alert_answer"] = json.dumps(answer.json())
        echo(f"run 4: alert {ALERT} posted to the receiver; retraining started for {started}")
        receiver.wait_idle()  # the retraining runs to register (the demo waits for it)
        (done,) = receiver.state().retrainings[-1:]
    finally:
        server.shutdown()
        server.server_close()
        receiver.close()
    record.decision = f"retraining {done.status}"
    registered = done.detail.get("registered_version")
    record.facts["retraining"] = {
        k: done.detail.get(k) for k in ("status", "run_id", "gate", "registered_version")
    }
    record.why = (
        f"drift in {', '.join(report.drifted_columns) or 'the scores'} "
        f"(share {report.drift_share or 0:.2f}); alert -> receiver -> training workflow: "
        + (f"version {registered} registered as challenger" if registered else "nothing registered")
    )
    record.champion_after = champion(runtime)
