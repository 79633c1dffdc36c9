"""``slipway demo``: the loop end to end on one machine, with the demo data.

Starts the local stack (left running, so the MLflow UI can be looked at), writes the
seeded demo datasets once, and runs the training workflow, the same Hera WorkflowTemplate
that Argo runs on the cluster, with slipway's local executor.

The demo stops the DAG at ``register``. The canary after it needs live traffic to be
judged (without requests every analysis window is extended, then rolled back), which a
demo cannot promise in a bounded time; ``slipway rollout start`` runs it on its own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from slipway.data import synthetic, tables
from slipway.pipeline.summary import render_summary
from slipway.runtime import Runtime
from slipway.workflow import local_run

TRAIN_SEED, REFERENCE_SEED, ROWS = 1, 2, 5000
DEMO_TARGET = "register"


def demo_data(folder: Path) -> tuple[Path, Path]:
    train, reference = folder / "train.csv", folder / "reference.parquet"
    if not train.exists():
        tables.write_table(synthetic.generate(ROWS, TRAIN_SEED), train)
    if not reference.exists():
        tables.write_table(synthetic.generate(ROWS, REFERENCE_SEED), reference)
    return train, reference


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_demo(runtime: Runtime, keep: bool = True, echo: Callable[[str], None] = _stderr) -> str:
    runtime.start_local_stack()
    try:
        train, reference = demo_data(runtime.state_dir / "demo")
        result = local_run.run_training(runtime, train, reference, target=DEMO_TARGET, echo=echo)
        result.raise_for_failure()
        client = runtime.mlflow
        pipeline = local_run.pipeline_result(result, runtime.settings, client)
        text = "\n".join(
            [
                "",
                "local run (the Argo WorkflowTemplate, walked by slipway's local executor)",
                local_run.render_run(result),
                "  (the canary needs live traffic: `slipway rollout start` runs it)",
                render_summary(pipeline, runtime.settings, client.tracking_uri),
            ]
        )
    finally:
        if not keep:
            runtime.stack.down()
    if keep:
        text += (
            "\n\nThe local stack is still running: `slipway local status`, `slipway local down`."
        )
    return text
