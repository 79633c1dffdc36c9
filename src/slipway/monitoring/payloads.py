"""Reading what the predictors recorded (slipway.serving.payload_log) into a table.

One row per served instance: the input columns, ``score`` (what the score metric records:
P(positive), the predicted class's probability or the predicted value, by task), for a
multiclass model ``predicted_class`` (as text, as drift compares categories),
``request_id``, ``row`` (the instance's index in its request) and ``time`` (seconds since
the epoch). Files are read from a folder (the embedded default) or
from an ``s3://`` prefix (the cluster's datasets bucket), for one model version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from slipway.errors import DataError
from slipway.serving.payload_log import HEADER, version_directory

META = ("request_id", "row", "time", "score", "predicted_class")


def parse_lines(lines: Iterable[str], source: str, since: float) -> Iterator[dict[str, Any]]:
    """The served rows of one file's lines recorded at or after ``since``."""
    columns: list[str] | None = None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            # The writer appends whole lines; only a crash can leave the last one partial.
            continue
        if record.get("kind") == HEADER:
            columns = list(record["columns"])
            continue
        if columns is None:
            raise DataError(f"{source}:{number}: a payload record before the file's header")
        if record["time"] < since:
            continue
        classes = record.get("classes")
        for index, (values, score) in enumerate(zip(record["rows"], record["scores"], strict=True)):
            row = dict(zip(columns, values, strict=True))
            row.update(request_id=record["request_id"], row=index, time=record["time"], score=score)
            if classes is not None:
                row["predicted_class"] = str(classes[index])
            yield row


def read_folder(root: Path, model: str, version: str, since: float = 0.0) -> pd.DataFrame:
    """The rows recorded for ``model`` ``version`` under ``root`` since ``since``."""
    folder = version_directory(root, model, version)
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("payloads-*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            rows.extend(parse_lines(handle, str(path), since))
    return pd.DataFrame(rows)


def read_s3(uri: str, model: str, version: str, since: float = 0.0) -> pd.DataFrame:
    """The rows under ``uri`` (``s3://bucket/prefix``)/model/version/ since ``since``."""
    import boto3  # type: ignore[import-untyped]

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    key_prefix = "/".join(p for p in (prefix.strip("/"), model, version) if p) + "/"
    client = boto3.client("s3")
    rows: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
        for item in page.get("Contents", []):
            if item["LastModified"].timestamp() < since:
                continue  # closed before the window began: nothing in it is recent enough
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            rows.extend(
                parse_lines(body.decode().splitlines(), f"s3://{bucket}/{item['Key']}", since)
            )
    return pd.DataFrame(rows)
