"""Every value is documented, and each README's values table matches values.yaml."""

from __future__ import annotations

import pytest
import values_docs
from chart_render import CHARTS, NAMESPACES


@pytest.mark.parametrize("chart", sorted(NAMESPACES))
def test_every_value_is_documented(chart: str) -> None:
    assert values_docs.undocumented(CHARTS / chart) == []


@pytest.mark.parametrize("chart", sorted(NAMESPACES))
def test_readme_values_table_is_current(chart: str) -> None:
    readme = (CHARTS / chart / "README.md").read_text()
    assert values_docs.START in readme
    assert readme == values_docs.readme_with_table(CHARTS / chart), (
        "stale values table: run .venv/bin/python -m tests.charts.values_docs"
    )


def test_undocumented_value_is_caught() -> None:
    text = "# -- documented\na: 1\nb:\n  c: 2\n"
    docs = values_docs.parse_docs(text)
    assert ("a",) in docs
    assert ("b", "c") not in docs
