"""The local stack finds the charts' local alert rules from any working directory (a relative
path would silently load no rules when slipway runs outside the checkout's root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.local.stack import RULES_SOURCE


def test_rules_source_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert RULES_SOURCE.is_absolute()
    assert repo_root / "charts/platform-monitoring/files/local" == RULES_SOURCE
    assert [p.name for p in RULES_SOURCE.glob("*.yaml")] == ["rules.yaml"]
