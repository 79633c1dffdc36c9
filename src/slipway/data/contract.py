"""The dataset contract: which columns a dataset has, their types, ranges and categories.

It is written in YAML by the model's owner and read by validation (to reject bad data),
by feature preprocessing (to know which columns are numeric or categorical) and by the
predictor (to reject bad requests with the same rules).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from slipway.errors import DataError

DType = Literal["float", "int", "category"]


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    dtype: DType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.dtype == "category":
            if not self.categories:
                raise ValueError(f"column {self.name!r}: a category column needs `categories`")
            if self.min is not None or self.max is not None:
                raise ValueError(f"column {self.name!r}: min/max apply to numeric columns only")
        elif self.categories is not None:
            raise ValueError(f"column {self.name!r}: `categories` applies to category columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"column {self.name!r}: min {self.min} is above max {self.max}")
        return self

    @property
    def numeric(self) -> bool:
        return self.dtype in ("float", "int")


class DatasetContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str = Field(description="The label column; it must be listed in `columns`.")
    positive_class: int = 1
    columns: tuple[Column, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _label_declared(self) -> DatasetContract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate columns: {', '.join(duplicates)}")
        if self.label not in names:
            raise ValueError(f"label {self.label!r} is not one of the columns")
        if self.column(self.label).nullable:
            raise ValueError(f"label {self.label!r} cannot be nullable")
        return self

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def features(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.name != self.label)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def load_contract(path: Path) -> DatasetContract:
    try:
        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise DataError(f"cannot read dataset contract {path}: {exc}") from exc
    try:
        return DatasetContract.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise DataError(f"invalid dataset contract {path}: {problems}") from exc


def dump_contract(contract: DatasetContract) -> str:
    import io

    buffer = io.StringIO()
    YAML(typ="safe").dump(contract.model_dump(mode="json", exclude_defaults=True), buffer)
    return buffer.getvalue()
