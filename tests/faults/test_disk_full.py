"""Disk full while writing a table, a model's weights, a checkpoint or a model download:
a clear error naming what could not be written, and nothing partial left that a later step
would trust (the old file stays; no temporary file, no half model folder).

The full disk is a real one: a small tmpfs this test mounts (as root; skipped with the
reason when the mount is refused), filled up before the write.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slipway.bundle.weights import load_weights, save_weights
from slipway.data import synthetic, tables
from slipway.errors import DataError, ModelError, ServingError, TrainingError
from slipway.serving import server
from slipway.training import trainer


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` up to ``leave`` bytes free."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave:
        size = filler.stat().st_size
        with filler.open("r+b") as handle:
            handle.truncate(max(0, size - leave))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "filler")


def test_a_table_on_a_full_disk_is_a_clear_error_and_the_old_table_stays(
    small_disk: Path,
) -> None:
    path = small_disk / "train.csv"
    old = synthetic.generate(50, seed=1)
    tables.write_table(old, path)
    _fill(small_disk)
    with pytest.raises(DataError, match=r"train.csv: cannot write the table: No space left"):
        tables.write_table(synthetic.generate(5000, seed=2), path)
    assert _leftovers(small_disk) == ["train.csv"]
    assert len(tables.read_table(path)) == 50


def test_weights_on_a_full_disk_leave_no_partial_file(small_disk: Path) -> None:
    path = small_disk / "weights.safetensors"
    _fill(small_disk, leave=4096)
    big = {"layer.weight": np.ones((128, 128), dtype=np.float32)}
    with pytest.raises(ModelError, match=r"cannot write the weights .*No space left"):
        save_weights(big, path)
    assert _leftovers(small_disk) == []
    (small_disk / "filler").unlink()
    save_weights(big, path)
    assert load_weights(path)["layer.weight"].shape == (128, 128)


def test_a_checkpoint_on_a_full_disk_keeps_the_previous_one(small_disk: Path) -> None:
    import torch

    path = small_disk / "best.pt"
    trainer._save_atomic({"w": torch.zeros(4)}, path)
    _fill(small_disk)
    with pytest.raises(TrainingError, match=r"cannot write the checkpoint .*No space left"):
        trainer._save_atomic({"w": torch.ones(100_000)}, path)
    assert _leftovers(small_disk) == ["best.pt"]
    assert torch.load(path)["w"].shape == (4,)


def test_a_model_download_onto_a_full_disk_leaves_no_copy_to_serve(small_disk: Path) -> None:
    """The cache's download step with a real folder of model files copied onto a disk that
    fills up half way: no folder is left under the version's name."""
    target = small_disk / "churn" / "1"

    def fetch(folder: Path) -> None:
        (folder / "MLmodel").write_text("flavors: {}\n")
        (folder / "data").mkdir()
        (folder / "data" / "weights.safetensors").write_bytes(b"\1" * 1_000_000)

    with pytest.raises(ServingError, match=r"cannot download churn version 1 .*No space left"):
        server._download(fetch, target, "churn version 1")
    assert _leftovers(small_disk / "churn") == []
