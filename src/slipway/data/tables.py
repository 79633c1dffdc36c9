"""Reading tabular data (CSV, Parquet; a path or an ``s3://`` URI) and its content digest.

The digest is the data version: a sha256 over a canonical serialisation (columns in name
order, each column's name, dtype and values), so the same table read from CSV or Parquet
has the same digest, and any change to a value changes it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from slipway.data.storage import DataLocation, DataUri, read_bytes
from slipway.errors import DataError
from slipway.state_files import write_atomic

SUPPORTED_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(source: DataUri) -> pd.DataFrame:
    """Read a CSV or Parquet table from a path or an ``s3://`` URI; any failure becomes a
    DataError naming the source.

    An object is read whole and parsed exactly as a local file is, so the same content has
    the same frame (and digest) wherever it lives.
    """
    location = DataLocation.parse(source)
    fmt = SUPPORTED_SUFFIXES.get(location.suffix)
    if fmt is None:
        raise DataError(
            f"{location}: unsupported file type {location.suffix!r} (use .csv or .parquet)"
        )
    content = io.BytesIO(read_bytes(location))
    try:
        if fmt == "csv":
            frame = pd.read_csv(content, keep_default_na=True, na_values=[""])
        else:
            frame = pd.read_parquet(content)
    except Exception as exc:  # pandas and pyarrow raise many types; all mean "unreadable"
        raise DataError(
            f"{location}: unreadable {fmt} content ({type(exc).__name__}: {exc})"
        ) from exc
    if frame.empty:
        raise DataError(f"{location}: the table has no rows")
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write atomically: a reader never sees a half-written file."""
    fmt = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")
    # Serialised in memory, then written whole (unique temporary file, fsync, rename): two
    # writers do not share a temporary file, and a full disk leaves no partial table.
    if fmt == "csv":
        data = frame.to_csv(index=False).encode("utf-8")
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    try:
        write_atomic(path, data)
    except OSError as exc:  # a full disk, a read-only folder: the old file, if any, stays
        raise DataError(f"{path}: cannot write the table: {exc.strerror or exc}") from exc


def _column_bytes(values: pd.Series) -> bytes:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # float64 little-endian, NaN canonicalised, so 3 and 3.0 and CSV/Parquet agree.
        array = values.to_numpy(dtype="float64", na_value=np.nan)
        array = np.where(np.isnan(array), np.float64("nan"), array)
        return b"num:" + array.astype("<f8").tobytes()
    text = ["\x00" if pd.isna(v) else str(v) for v in values]
    return b"str:" + "\x1f".join(text).encode("utf-8")


def table_digest(frame: pd.DataFrame) -> str:
    """sha256 of the canonical serialisation; returned as ``sha256:<hex>``."""
    digest = hashlib.sha256()
    digest.update(f"rows={len(frame)}".encode())
    for name in sorted(frame.columns, key=str):
        digest.update(b"\x1e" + str(name).encode("utf-8") + b"\x1d")
        digest.update(_column_bytes(frame[name]))
    return f"sha256:{digest.hexdigest()}"
