"""scripts/bump_image_digests.py: sets the digests of slipway's images in argocd/values/,
keeps the files' comments, refuses bad input without writing anything; and the real
argocd/values/ names every image it is meant to pin."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from image_support import load_script
from ruamel.yaml import YAML

from slipway.errors import GitOpsError

REPO_ROOT = Path(__file__).resolve().parents[2]
VALUES = REPO_ROOT / "argocd" / "values"
bump_image_digests = load_script("bump_image_digests")

TRAINER = "ghcr.io/slipway-ml/slipway-trainer"
CUDA = "ghcr.io/slipway-ml/slipway-trainer-cuda"
PREDICTOR = "ghcr.io/slipway-ml/slipway-predictor"
D1, D2, D3 = ("sha256:" + c * 64 for c in "abc")


@pytest.fixture
def values(tmp_path: Path) -> Path:
    copy = tmp_path / "values"
    shutil.copytree(VALUES, copy)
    return copy


def digests_in(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.yaml"):
        for block in bump_image_digests.image_blocks(YAML(typ="safe").load(path.read_text())):
            found.setdefault(block["repository"], set()).add(block["digest"])
    return found


def test_argocd_values_pin_every_image_by_a_digest_field() -> None:
    assert set(digests_in(VALUES)) == {TRAINER, CUDA, PREDICTOR}


def test_bump_sets_every_digest_and_keeps_comments(values: Path) -> None:
    before = (values / "default" / "model-serving.yaml").read_text()
    status = bump_image_digests.main(
        [f"{TRAINER}={D1}", f"{CUDA}={D2}", f"{PREDICTOR}={D3}", "--values-dir", str(values)]
    )
    assert status == 0
    assert digests_in(values) == {TRAINER: {D1}, CUDA: {D2}, PREDICTOR: {D3}}
    after = (values / "default" / "model-serving.yaml").read_text()
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments and all(line in after.splitlines() for line in comments)
    # a second run with the same digests changes nothing
    assert bump_image_digests.bump({TRAINER: D1}, values) == []


def test_bump_only_touches_the_named_image(values: Path) -> None:
    changed = bump_image_digests.bump({PREDICTOR: D3}, values)
    assert {p.name for p in changed} == {"model-serving.yaml", "ml-workflows.yaml",
                                         "platform-monitoring.yaml"}  # fmt: skip
    assert digests_in(values)[TRAINER] == {""}


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (f"{TRAINER}", "expected NAME=sha256"),
        (f"{TRAINER}=sha256:abc", "is not a digest"),
        (f"{TRAINER}=latest", "is not a digest"),
        (f"ghcr.io/slipway-ml/slipway={D1}", "is not one of slipway's images"),
    ],
)
def test_bad_arguments_are_refused(argument: str, message: str) -> None:
    with pytest.raises(GitOpsError, match=message):
        bump_image_digests.parse([argument])


def test_a_name_found_nowhere_writes_nothing(values: Path) -> None:
    (values / "default" / "ml-workflows.yaml").write_text("image: {}\n")
    serving = values / "default" / "model-serving.yaml"  # its torch image is the trainer too
    serving.write_text(serving.read_text().replace(TRAINER, "ghcr.io/example/other"))
    before = {p: p.read_text() for p in values.rglob("*.yaml")}
    with pytest.raises(GitOpsError, match="no image block names"):
        bump_image_digests.bump({TRAINER: D1, PREDICTOR: D3}, values)
    assert {p: p.read_text() for p in values.rglob("*.yaml")} == before
    assert bump_image_digests.main([f"{TRAINER}={D1}", "--values-dir", str(values)]) == 1
