"""One registered model version, as every part of the platform refers to it.

Serving loads it (``model_dir``), the rollout deploys and compares it (``storage_uri``,
``version``) and the GitOps record writes it into git (``version``, ``run_id``,
``storage_uri``). This module imports nothing heavy (no MLflow, torch or pandas): the
predictor imports it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The model version's tag (and its training run's) naming the network's kind.
NETWORK_TAG = "slipway.network.kind"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    run_id: str
    storage_uri: str = ""  # where the platform fetches the model from (KServe's storageUri)
    alias: str | None = None  # the registry alias it was found by, when known
    model_dir: Path | None = None  # a local copy (a local model server serves from it)
    # The network's kind (the version's ``slipway.network.kind`` tag): "mlp" runs on the
    # predictor image's numpy pass, "custom" (a team's own torch.nn.Module) needs torch.
    network: str = "mlp"

    @property
    def needs_torch(self) -> bool:
        return self.network == "custom"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_dir"] = str(self.model_dir) if self.model_dir else None
        return out
