"""Every value is documented, each README's values table matches values.yaml, and each
values schema is titled after its chart."""

from __future__ import annotations

import json

import pytest
import values_docs
import yaml
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


def schema_title_errors(schema: dict[str, object], chart: str) -> list[str]:
    """A values schema's title is not blank and names its chart (as a word, not a substring)."""
    title = schema.get("title")
    if not isinstance(title, str) or not title.strip():
        return [f"{chart}: values.schema.json has no title"]
    if chart not in title.split():
        return [f"{chart}: values.schema.json title {title!r} does not name the chart"]
    return []


@pytest.mark.parametrize("chart", sorted(NAMESPACES))
def test_values_schema_title_names_its_chart(chart: str) -> None:
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    name = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())["name"]
    assert name == chart
    assert schema_title_errors(schema, name) == []


def test_blank_or_foreign_schema_titles_are_caught() -> None:
    assert schema_title_errors({"title": " values"}, "mlflow")
    assert schema_title_errors({"title": "  "}, "mlflow")
    assert schema_title_errors({}, "mlflow")
    assert schema_title_errors({"title": "model-serving chart values"}, "mlflow")
    # "ml-workflows" contains neither "mlflow" nor "workflows" as a word
    assert schema_title_errors({"title": "ml-workflows chart values"}, "workflows")
    assert schema_title_errors({"title": "mlflow chart values"}, "mlflow") == []
