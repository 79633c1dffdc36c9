"""The predictor's model cache against a real MLflow: a copy is complete only once its
marker is written, last; a copy cut short is downloaded again, never served.

The first two tests make the partial copy a cut-short download leaves (MLmodel there, the
weights missing or truncated): today's code saw MLmodel and served it. The last cuts a real
download short (MLflow's own download, stopped after its first file) and checks that
nothing is left that a later start would trust.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from serving_support import MODEL, World

from slipway.bundle.layout import WEIGHTS, find_bundle, read_bundle
from slipway.errors import ServingError
from slipway.serving import server

pytestmark = pytest.mark.integration


def _copy(world: World, version: str, cache: Path) -> Path:
    """A cache folder holding a copy of ``version`` as the cache lays it out."""
    target = cache / MODEL / version
    shutil.copytree(world.model_dirs[version], target)
    (target / server.COMPLETE).unlink(missing_ok=True)
    return target


def test_a_complete_copy_is_marked_and_reused(world: World, tmp_path: Path) -> None:
    version = world.versions[0]
    first = server.from_registry(f"models:/{MODEL}/{version}", tmp_path, world.client())
    assert first.model_dir is not None
    assert (first.model_dir / server.COMPLETE).is_file()
    read_bundle(find_bundle(first.model_dir))
    # Reused as is: the same files, not downloaded again (a file of its own stays).
    (first.model_dir / "kept").write_text("x")
    again = server.from_registry(f"models:/{MODEL}/{version}", tmp_path, world.client())
    assert again.model_dir == first.model_dir and (again.model_dir / "kept").is_file()
    # Nothing beside it but the lock: no partial folder left.
    assert sorted(p.name for p in (tmp_path / MODEL).iterdir()) == [
        version,
        f"{version}.download.lock",
    ]


@pytest.mark.parametrize("cut", ["weights missing", "weights truncated"])
def test_a_copy_cut_short_is_downloaded_again(world: World, tmp_path: Path, cut: str) -> None:
    version = world.versions[0]
    partial = _copy(world, version, tmp_path)
    weights = next(partial.rglob(WEIGHTS))
    if cut == "weights missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:100])
    source = server.from_registry(f"models:/{MODEL}/{version}", tmp_path, world.client())
    assert source.model_dir == partial
    assert (partial / server.COMPLETE).is_file()
    bundle = read_bundle(find_bundle(partial))  # the whole bundle loads again
    assert bundle.weights


def test_a_download_cut_short_leaves_nothing_trusted(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.artifacts

    real = mlflow.artifacts.download_artifacts

    def cut_short(**kwargs: Any) -> str:
        # MLflow's real download, then the connection "drops": the folder holds a part of
        # the model when the error comes.
        real(**kwargs)
        for file in sorted(Path(kwargs["dst_path"]).rglob(WEIGHTS)):
            file.write_bytes(file.read_bytes()[:64])
        raise ConnectionError("connection reset while downloading")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", cut_short)
    version = world.versions[0]
    with pytest.raises(ServingError, match=r"cannot download .*connection reset"):
        server.from_registry(f"models:/{MODEL}/{version}", tmp_path, world.client())
    folder = tmp_path / MODEL
    assert sorted(p.name for p in folder.iterdir()) == [f"{version}.download.lock"]
    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", real)
    source = server.from_registry(f"models:/{MODEL}/{version}", tmp_path, world.client())
    assert source.model_dir is not None
    read_bundle(find_bundle(source.model_dir))
