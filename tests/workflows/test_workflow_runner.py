"""The cluster's entry point: Hera's runner, started the way Argo starts a step's container.

Argo writes the template's ``source`` (``{{inputs.parameters}}``: the inputs as JSON) to a
file, appends its path to the container's arguments, and reads each output parameter from
its ``valueFrom.path`` afterwards. This does the same with the drift check (it needs no
server), so the steps' signatures are known to work under the runner, not only in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from slipway.data import synthetic, tables
from slipway.workflow import definitions


def test_hera_runner_runs_a_step_with_argos_inputs_and_writes_its_outputs(tmp_path: Path) -> None:
    cron = definitions.drift_monitor().to_dict()
    template = next(
        t for t in cron["spec"]["workflowSpec"]["templates"] if t["name"] == "check-drift"
    )
    container = template["script"]
    latest, reference = tmp_path / "latest.csv", tmp_path / "reference.parquet"
    tables.write_table(synthetic.generate(1500, seed=3, drift=1.5), latest)
    tables.write_table(synthetic.generate(1500, seed=2), reference)
    inputs = tmp_path / "script"  # what Argo writes from `source`
    inputs.write_text(
        json.dumps(
            [
                {"name": "data", "value": str(latest)},
                {"name": "reference", "value": str(reference)},
                {"name": "config", "value": ""},
            ]
        )
    )
    outputs = tmp_path / "hera-outputs"
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env |= {"hera__outputs_directory": str(outputs), "SLIPWAY_TRACKING__MODEL_NAME": "m"}
    assert container["command"] == ["python"]
    done = subprocess.run(
        [sys.executable, *container["args"], str(inputs)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "DRIFT" in done.stdout
    for param in template["outputs"]["parameters"]:
        path = Path(param["valueFrom"]["path"].replace("/tmp/hera-outputs", str(outputs)))
        assert path.is_file(), param["name"]
    assert (outputs / "parameters" / "drift").read_text() == "true"
    assert "monthly_charges" in (outputs / "parameters" / "drifted-columns").read_text()
