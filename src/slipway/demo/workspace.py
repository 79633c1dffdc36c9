"""The demo's own files under the state folder: its data, its config, a scratch git repo.

The demo never writes to the user's working tree: promotion records go to a git
repository created under ``<state>/demo/gitops`` (the GitOps record as the cluster keeps
it, a commit on a branch), and the demo's settings are the packaged demo config with the
demo's few changes (load on, payloads recorded, the scratch repo), written to
``<state>/demo/demo-config.json`` (JSON is YAML) so that every process the demo starts,
the model servers included, reads the same settings.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from slipway.config import default_config_path
from slipway.data import synthetic, tables
from slipway.errors import ConfigError

TRAIN_SEED, REFERENCE_SEED, MORE_SEED, DRIFT_SEED, ROWS = 1, 2, 3, 4, 5000
#: How far the served traffic of run 4 is shifted, in standard deviations.
DRIFT = 2.5
VALUES_FILE = "argocd/values/dev/model-serving.yaml"
_VALUES = """\
# model-serving, dev: the demo's scratch copy (slipway demo writes promotions here)
models:
  - name: {model}
    modelVersion: "0"
    runId: none
    storageUri: none
"""


@dataclass(frozen=True)
class DemoFiles:
    folder: Path
    train: Path  # run 1
    reference: Path
    more: Path  # run 2: twice the data
    drifted: Path  # run 4: what the shifted traffic looks like, labelled (retraining data)
    config: Path
    gitops: Path
    shadow_config: Path  # run 2's: the same, with the shadow phase before the canary


def demo_data(folder: Path) -> tuple[Path, Path]:
    """The first training set and its reference, written once (seeded)."""
    folder.mkdir(parents=True, exist_ok=True)
    train, reference = folder / "train.csv", folder / "reference.parquet"
    if not train.exists():
        tables.write_table(synthetic.generate(ROWS, TRAIN_SEED), train)
    if not reference.exists():
        tables.write_table(synthetic.generate(ROWS, REFERENCE_SEED), reference)
    return train, reference


def _data(folder: Path) -> tuple[Path, Path, Path, Path]:
    train, reference = demo_data(folder)
    more, drifted = folder / "train-more.csv", folder / "train-drifted.csv"
    if not more.exists():
        tables.write_table(synthetic.generate(2 * ROWS, MORE_SEED), more)
    if not drifted.exists():
        tables.write_table(synthetic.generate(ROWS, DRIFT_SEED, drift=DRIFT), drifted)
    return train, reference, more, drifted


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=slipway demo",
         "-c", "user.email=demo@localhost", *args],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def scratch_repo(repo: Path, model: str) -> Path:
    """A git repository holding the model-serving values file, created once."""
    if (repo / ".git").is_dir():
        return repo
    values = repo / VALUES_FILE
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(_VALUES.format(model=model), encoding="utf-8")
    try:
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", "demo: the values the promotions change")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ConfigError(f"the demo needs git for its scratch GitOps repository: {exc}") from exc
    return repo


def demo_config(base: Path, folder: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The packaged config with its relative paths made absolute, and ``overrides`` (two
    levels deep: section, then key) applied."""
    data = YAML(typ="safe").load(base.read_text(encoding="utf-8")) or {}
    contract = Path(data["data"]["contract"])
    data["data"]["contract"] = str(contract if contract.is_absolute() else base.parent / contract)
    for section, values in overrides.items():
        current = data.setdefault(section, {})
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key] = {**current[key], **value}
            else:
                current[key] = value
    return data


def prepare(state_dir: Path, model: str, base: Path | None = None) -> DemoFiles:
    folder = state_dir / "demo"
    train, reference, more, drifted = _data(folder)
    gitops = scratch_repo(folder / "gitops", model)
    config = folder / "demo-config.json"
    settings = demo_config(
        base or default_config_path(),
        folder,
        {
            # retraining (run 4) learns from the shifted data; no reference: the data is
            # known to have moved, that is why it retrains
            "data": {"train": str(drifted), "reference": None},
            # demo-sized training: early stopping ends the default 40 epochs near 20 anyway
            "training": {"epochs": 20, "patience": 3, "progress": False},
            "rollout": {
                "load": {"enabled": True},
                "gitops": {"repo_dir": str(gitops), "environment": "dev"},
            },
            "monitoring": {
                "payloads": {"sample_rate": 1.0, "directory": str(state_dir / "payloads"),
                             "flush_seconds": 0.5},
                "retraining": {"target": "register", "cooldown_seconds": 0},
                "drift": {"min_rows": 100},
            },
        },
    )  # fmt: skip
    config.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    # Half the live requests mirrored to the challenger for a few seconds: at the load's
    # rate that is well over min_requests compared answers.
    shadow = folder / "demo-config-shadow.json"
    settings["rollout"]["shadow"] = {"percent": 50, "duration_seconds": 5, "min_requests": 40}
    shadow.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return DemoFiles(folder, train, reference, more, drifted, config, gitops, shadow)
