"""Write one of scikit-learn's bundled datasets as a table slipway trains on.

    python examples/fetch_data.py iris OUT.csv       # multiclass: species
    python examples/fetch_data.py diabetes OUT.csv   # regression: progression

The data ships inside scikit-learn (no network). Column names match the contracts in
examples/iris/contract.yaml and examples/diabetes/contract.yaml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from sklearn import datasets

IRIS_COLUMNS = {
    "sepal length (cm)": "sepal_length",
    "sepal width (cm)": "sepal_width",
    "petal length (cm)": "petal_length",
    "petal width (cm)": "petal_width",
}


def iris() -> pd.DataFrame:
    """150 flowers, 4 measurements, the species as text (setosa, versicolor, virginica)."""
    bunch = datasets.load_iris(as_frame=True)
    frame = bunch.frame.rename(columns=IRIS_COLUMNS)
    names = list(bunch.target_names)
    frame["species"] = [names[i] for i in frame.pop("target")]
    out: pd.DataFrame = frame
    return out


def diabetes() -> pd.DataFrame:
    """442 patients, 10 baseline measurements in their own units, and ``progression``
    (a quantitative measure of disease progression one year later)."""
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].astype(int)
    out: pd.DataFrame = frame.rename(columns={"target": "progression"})
    return out


DATASETS = {"iris": iris, "diabetes": diabetes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("out", type=Path, help="Output file (.csv or .parquet).")
    args = parser.parse_args(argv)
    from slipway.data import tables

    frame = DATASETS[args.dataset]()
    tables.write_table(frame, args.out)
    print(f"wrote {len(frame)} rows to {args.out} ({tables.table_digest(frame)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
