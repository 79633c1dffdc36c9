"""``slipway demo``: the loop end to end on one machine, with the demo data.

Starts the local stack (left running, so the MLflow UI can be looked at), writes the
seeded demo datasets once, and runs the pipeline on them.
"""

from __future__ import annotations

from pathlib import Path

from slipway import dataio, synthetic, tracking
from slipway.config import load_settings
from slipway.local.stack import LocalStack
from slipway.pipeline import run_pipeline
from slipway.summary import render_summary

TRAIN_SEED, REFERENCE_SEED, ROWS = 1, 2, 5000


def demo_data(folder: Path) -> tuple[Path, Path]:
    train, reference = folder / "train.csv", folder / "reference.parquet"
    if not train.exists():
        dataio.write_table(synthetic.generate(ROWS, TRAIN_SEED), train)
    if not reference.exists():
        dataio.write_table(synthetic.generate(ROWS, REFERENCE_SEED), reference)
    return train, reference


def run_demo(state_dir: Path | None = None, keep: bool = True) -> str:
    stack = LocalStack(state_dir)
    stack.up()
    try:
        settings = load_settings()
        train, reference = demo_data(stack.state_dir / "demo")
        client = tracking.client_for(settings.tracking, stack.state_dir)
        result = run_pipeline(client, settings, train, reference)
        text = render_summary(result, settings, client.tracking_uri)
    finally:
        if not keep:
            stack.down()
    if keep:
        text += (
            "\n\nThe local stack is still running: `slipway local status`, `slipway local down`."
        )
    return text
