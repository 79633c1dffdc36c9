"""``slipway demo``: the whole loop on one machine, on the embedded default.

Real MLflow, real model servers behind the router, real Prometheus:

1. run 1: the first model, trained by the training workflow (the Argo WorkflowTemplate,
   walked by slipway's local executor); the first passing version is champion directly;
2. run 2: more data; under the load step, the shadow phase,
   then the canary steps, promoted; the GitOps record goes to a scratch git repository
   under the state folder (workspace.py);
3. run 3: a challenger that fails in serving (errors injected into its server, the demo
   only), rolled back at the first breach, the champion kept; the time from the canary's
   first traffic to the rollback done is measured;
4. run 4: drift in the served traffic, found by the drift step; the alert starts the
   retraining through the receiver (drift_run.py).

Then a summary table (runs, versions, decisions and why) and an HTML report with the
rollouts' figures from Prometheus (report.py).
"""

from __future__ import annotations

import sys
import time

from slipway.data import synthetic, tables
from slipway.demo import report, workspace
from slipway.demo.drift_run import drift_and_retrain
from slipway.demo.runs import Echo, RunRecord, champion, roll_out, train
from slipway.demo.timeline import read_timeline
from slipway.errors import ConfigError, SlipwayError
from slipway.rollout.model_registry import target_for
from slipway.runtime import Runtime

#: Share of the canary's requests its server fails in run 3.
FAULT_ERROR_RATE = 0.3
REPORT = "report.html"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _router_url(runtime: Runtime) -> str:
    """The router in front of the champion (started if it is not running)."""
    backend = runtime.rollout_backend()
    try:
        name = runtime.settings.tracking.model_name
        version = champion(runtime)
        assert version is not None
        url = backend.ensure_serving(
            target_for(runtime.mlflow, name, version, backend.model_cache_dir())
        )
        assert url is not None, "the local backend has a router"
        return url
    finally:
        backend.close()


def _timeline(runtime: Runtime, record: RunRecord) -> None:
    outcome = record.outcome
    if outcome is None or outcome.finished_at is None:
        return
    # The scrape lags by an interval: wait for the last samples before reading them.
    time.sleep(2 * runtime.settings.rollout.scrape_interval_seconds)
    try:
        record.timeline = read_timeline(
            runtime.prometheus_url(), outcome.model, outcome.started_at - 2, outcome.finished_at + 2
        )
    except SlipwayError as exc:  # the report says what it could not draw
        record.notes.append(f"no figures: {exc}")


def summary_table(records: list[RunRecord]) -> str:
    rows = [("run", "what", "version", "champion before -> after", "decision", "why")]
    for r in records:
        rows.append(
            (
                str(r.number), r.title, r.version or "-",
                f"{r.champion_before or '-'} -> {r.champion_after or '-'}",
                r.decision, (r.why[:110] + "...") if len(r.why) > 113 else r.why,
            )
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 3)
    return "\n".join(lines)


RUNS = 4


def run_loop(
    runtime: Runtime, files: workspace.DemoFiles, echo: Echo, runs: int = RUNS
) -> list[RunRecord]:
    records: list[RunRecord] = []

    first = RunRecord(1, "first model")
    records.append(first)
    started = time.monotonic()
    version = train(runtime, first, files.train, files.reference, echo)
    first.champion_after = champion(runtime)
    if version and first.champion_after == version:
        first.decision, first.why = "champion", "the first passing version: nothing to compare with"
    elif version:
        first.decision = "challenger"
        first.why = f"an earlier demo's champion ({first.champion_after}) is in this state folder"
    first.seconds = time.monotonic() - started

    if runs < 2:
        return records
    second = RunRecord(2, "more data: shadow, canary under load")
    records.append(second)
    started = time.monotonic()
    version = train(runtime, second, files.more, files.reference, echo)
    if version:
        # Run 2 alone goes through the shadow phase: its own config turns rollout.shadow on.
        shadowed = Runtime.load(files.shadow_config, runtime.state_dir)
        outcome = roll_out(shadowed, second, version)
        phase = [s for s in outcome.steps if s.percent == 0]
        if phase:
            second.notes.append(f"shadow phase (0% live): {phase[0].decision}: {phase[0].reason}")
        _timeline(runtime, second)
    second.seconds = time.monotonic() - started

    if runs < 3:
        return records
    third = RunRecord(3, "challenger failing in serving")
    records.append(third)
    started = time.monotonic()
    data = files.folder / "train-third.csv"
    if not data.exists():
        tables.write_table(synthetic.generate(workspace.ROWS, 5), data)
    version = train(runtime, third, data, files.reference, echo)
    if version:
        outcome = roll_out(runtime, third, version, fault_error_rate=FAULT_ERROR_RATE)
        third.notes.append(f"{FAULT_ERROR_RATE:.0%} of the canary's requests failed on purpose")
        if outcome.rollback_done_at is not None and outcome.steps:
            third.facts["first_canary_traffic_to_rollback_s"] = round(
                outcome.rollback_done_at - outcome.steps[0].started_at, 2
            )
            if outcome.breach_detected_at is not None:
                third.facts["breach_detected_to_rollback_s"] = round(
                    outcome.rollback_done_at - outcome.breach_detected_at, 2
                )
        _timeline(runtime, third)
    third.seconds = time.monotonic() - started

    if runs < 4:
        return records
    fourth = RunRecord(4, "drift in served traffic")
    records.append(fourth)
    started = time.monotonic()
    drift_and_retrain(runtime, fourth, files, _router_url(runtime), echo)
    fourth.seconds = time.monotonic() - started
    return records


def run_demo(runtime: Runtime, keep: bool = True, echo: Echo = _stderr, runs: int = RUNS) -> str:
    """The loop's first ``runs`` runs (all four by default); the text to print."""
    if not 1 <= runs <= RUNS:
        raise ConfigError(f"--runs must be 1 to {RUNS}, not {runs}")
    began = time.monotonic()
    files = workspace.prepare(runtime.state_dir, runtime.settings.tracking.model_name)
    demo = Runtime.load(files.config, runtime.state_dir)
    demo.start_local_stack()
    try:
        records = run_loop(demo, files, echo, runs)
        html = report.render(records, demo.settings.tracking.model_name)
        path = files.folder / REPORT
        path.write_text(html, encoding="utf-8")
    finally:
        if not keep:
            demo.stack.down()
    total = time.monotonic() - began
    lines = [
        "",
        "run 1 (the Argo WorkflowTemplate, walked by slipway's local executor, to register)",
        records[0].summary,
        "",
        "slipway demo: the loop",
        "",
        summary_table(records),
        "",
    ]
    for r in records:
        for key, value in r.facts.items():
            if key.endswith("_s"):
                lines.append(f"run {r.number}: {key.replace('_', ' ')[:-2]}: {value} s")
        if r.load is not None:
            lines.append(
                f"run {r.number}: load sent {r.load.sent}, ok {r.load.ok}, errors {r.load.errors}"
            )
        lines.extend(f"run {r.number}: {note}" for note in r.notes)
    lines += [
        f"gitops record (scratch repository, never your working tree): {files.gitops}",
        f"report: {path}",
        f"mlflow: {demo.tracking_uri()}",
        f"took {total:.0f} s",
    ]
    if keep:
        lines.append(
            "The local stack is still running: `slipway local status`, `slipway local down`."
        )
    return "\n".join(lines)
