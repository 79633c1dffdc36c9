"""Dataset contract parsing, table I/O and the content digest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from slipway.config import load_settings
from slipway.data import synthetic, tables
from slipway.data.contract import DatasetContract, load_contract
from slipway.errors import DataError


def test_demo_contract_declares_features_and_label() -> None:
    contract = load_contract(load_settings().data.contract)
    assert contract.label == "churned"
    assert "churned" not in [c.name for c in contract.features]
    assert contract.column("contract").categories == ("monthly", "annual", "two_year")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([{"name": "a", "dtype": "float"}, {"name": "b", "dtype": "int"}], "label"),
        ([{"name": "y", "dtype": "int"}, {"name": "c", "dtype": "category"}], "categories"),
        ([{"name": "y", "dtype": "int"}, {"name": "y", "dtype": "int"}], "duplicate"),
        (
            [{"name": "y", "dtype": "int", "min": 3, "max": 1}, {"name": "a", "dtype": "float"}],
            "min",
        ),
    ],
)
def test_invalid_contracts_are_rejected(
    tmp_path: Path, columns: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "contract.yaml"
    import json

    path.write_text(json.dumps({"name": "t", "label": "y", "columns": columns}))
    with pytest.raises(DataError, match=message):
        load_contract(path)
    assert DatasetContract  # the model class is what the loader validates with


def test_digest_is_format_independent_and_value_sensitive(tmp_path: Path) -> None:
    frame = synthetic.generate(300, seed=3)
    tables.write_table(frame, tmp_path / "d.csv")
    tables.write_table(frame, tmp_path / "d.parquet")
    from_csv = tables.table_digest(tables.read_table(tmp_path / "d.csv"))
    from_parquet = tables.table_digest(tables.read_table(tmp_path / "d.parquet"))
    assert from_csv == from_parquet == tables.table_digest(frame)
    assert from_csv.startswith("sha256:")
    changed = frame.copy()
    changed.loc[7, "age"] = changed.loc[7, "age"] + 1
    assert tables.table_digest(changed) != from_csv
    # Column order is not content.
    assert tables.table_digest(frame[frame.columns[::-1]]) == from_csv


def test_synthetic_data_is_seeded_and_drift_moves_the_chosen_features() -> None:
    a, b = synthetic.generate(2000, seed=5), synthetic.generate(2000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    drifted = synthetic.generate(2000, seed=5, drift=1.0, drift_features=("age",))
    assert drifted["age"].mean() > a["age"].mean() + 8
    assert drifted["monthly_charges"].equals(a["monthly_charges"])
    with pytest.raises(ValueError, match="unknown features"):
        synthetic.generate(10, drift_features=("nope",))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("header.csv", b"a,b,c\n", "no rows"),
        ("data.json", b"{}", "unsupported file type"),
        ("broken.parquet", b"PAR1 this is not parquet", "unreadable parquet"),
        ("binary.csv", b"\x00\xff\xfe\x00garbage\x00", "unreadable csv"),
    ],
)
def test_unreadable_files_raise_named_errors(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        tables.read_table(path)
    assert name in str(err.value)


def test_truncated_parquet_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    tables.write_table(synthetic.generate(500, seed=1), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="unreadable parquet"):
        tables.read_table(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        tables.read_table(tmp_path / "nope.csv")
