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
#: What the model learns: one class of two (a probability), one class of many (a
#: probability per class), or a number.
Task = Literal["binary", "multiclass", "regression"]


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
    task: Task = Field("binary", description="binary, multiclass or regression.")
    positive_class: int = Field(1, description="binary: the label value of the positive class.")
    classes: tuple[str, ...] | None = Field(
        None,
        description="multiclass: the class labels, in the order of the model's outputs. A "
        "category label defaults to its categories; an int label must list them (as strings).",
    )
    columns: tuple[Column, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _label_declared(self) -> DatasetContract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate columns: {', '.join(duplicates)}")
        if self.label not in names:
            raise ValueError(f"label {self.label!r} is not one of the columns")
        label = self.column(self.label)
        if label.nullable:
            raise ValueError(f"label {self.label!r} cannot be nullable")
        if self.task == "multiclass":
            self._check_classes(label)
        elif self.classes is not None:
            raise ValueError(f"`classes` applies to multiclass contracts, not {self.task}")
        if self.task == "binary" and label.dtype != "int":
            raise ValueError(f"a binary label must be int (0/1), {self.label!r} is {label.dtype}")
        if self.task == "regression" and not label.numeric:
            raise ValueError(f"a regression label must be numeric, {self.label!r} is category")
        if self.task == "regression" and (label.min is None or label.max is None):
            # The predictor's score histogram spreads its buckets over this range: the same
            # for every version of the model, which the rollout's score gate needs to
            # compare a canary's predictions with the champion's bucket by bucket.
            raise ValueError(
                f"a regression label needs min and max (the range its predictions are "
                f"measured over), {self.label!r} lacks "
                f"{'min and max' if label.min is None and label.max is None else 'one'}"
            )
        return self

    def _check_classes(self, label: Column) -> None:
        if label.dtype == "float":
            raise ValueError(f"a multiclass label must be int or category, {label.name!r} is float")
        classes = self.classes or label.categories
        if not classes:
            raise ValueError(f"multiclass label {label.name!r} is int: list its `classes`")
        if len(set(classes)) != len(classes) or len(classes) < 2:
            raise ValueError(f"`classes` must be at least 2 distinct labels, got {list(classes)}")
        if label.categories and set(classes) != set(label.categories):
            raise ValueError(f"`classes` {list(classes)} differ from the label's categories")
        if label.dtype == "int":
            bad = [c for c in classes if not c.lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"int label {label.name!r}: classes {bad} are not integers")
        if self.classes is None:  # frozen model: fill the default once, at validation
            object.__setattr__(self, "classes", tuple(classes))

    @property
    def class_labels(self) -> tuple[str | int, ...]:
        """multiclass: the classes in output order, as the label column holds them (ints
        for an int label); empty for the other tasks."""
        if self.task != "multiclass" or self.classes is None:
            return ()
        if self.column(self.label).dtype == "int":
            return tuple(int(c) for c in self.classes)
        return self.classes

    @property
    def output_width(self) -> int:
        """The network's outputs: one per class for multiclass, else one (a logit or a value)."""
        return len(self.classes or ()) if self.task == "multiclass" else 1

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
