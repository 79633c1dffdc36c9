"""What a prediction looks like on the wire, per task: the v1 and v2 outputs of the forward
pass's scores (slipway.serving.forward says what those are), and the score the metrics and
the payload log record.

    task         v1 ``predictions[i]``                          v2 outputs
    binary       {"prediction": 0|1, "probabilities": [p0, p1]} prediction INT64 [n],
                                                                probabilities FP64 [n, 2]
    multiclass   {"prediction": <label>,                        prediction INT64 [n] (an int
                  "probabilities": [p per class]}               label) or BYTES [n] (a
                                                                category), probabilities
                                                                FP64 [n, K]
    regression   <value>                                        prediction FP64 [n]

Probabilities are listed in the contract's ``classes`` order (binary: class 0, class 1),
which the model metadata's ``parameters.classes`` names. The recorded score is what the
rollout's score gate compares: P(positive), the predicted class's probability, or the
value.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from slipway.data.contract import DatasetContract

#: name -> (datatype, width): width 1 is a tensor of shape [n], else [n, width].
OutputTypes = dict[str, tuple[str, int]]


class TaskOutputs:
    """The encoding of one model's predictions, fixed when the model loads."""

    def __init__(self, contract: DatasetContract) -> None:
        self.task = contract.task
        self.labels: tuple[str | int, ...] = contract.class_labels
        self._labels = np.array(self.labels, dtype=object)
        if self.task == "regression":
            self.types: OutputTypes = {"prediction": ("FP64", 1)}
        elif self.task == "multiclass":
            label_type = "INT64" if contract.column(contract.label).dtype == "int" else "BYTES"
            self.types = {
                "prediction": (label_type, 1),
                "probabilities": ("FP64", len(self.labels)),
            }
        else:
            self.types = {"prediction": ("INT64", 1), "probabilities": ("FP64", 2)}
        #: The v2 outputs, in the order a response lists them when the request names none.
        self.names = tuple(self.types)

    # ------------------------------------------------------------------ responses

    def v1(self, scores: np.ndarray) -> dict[str, Any]:
        if self.task == "binary":
            positive = scores.tolist()
            return {
                "predictions": [
                    {"prediction": 1 if p >= 0.5 else 0, "probabilities": [1.0 - p, p]}
                    for p in positive
                ]
            }
        if self.task == "regression":
            return {"predictions": scores.tolist()}
        predicted = self.predicted_labels(scores).tolist()
        return {
            "predictions": [
                {"prediction": c, "probabilities": p}
                for c, p in zip(predicted, scores.tolist(), strict=True)
            ]
        }

    def v2(
        self, scores: np.ndarray, request_id: str | None, name: str, version: str
    ) -> dict[str, Any]:
        """The whole v2 response, every output as JSON (the hot path: no requested outputs)."""
        n = len(scores)
        if self.task == "binary":
            positive = scores.tolist()
            outputs = [
                {"name": "prediction", "datatype": "INT64", "shape": [n],
                 "data": [1 if p >= 0.5 else 0 for p in positive]},
                {"name": "probabilities", "datatype": "FP64", "shape": [n, 2],
                 "data": [v for p in positive for v in (1.0 - p, p)]},
            ]  # fmt: skip
        else:
            outputs = [
                {
                    "name": key,
                    "datatype": datatype,
                    "shape": self.shape(key, n),
                    "data": array.ravel().tolist(),
                }
                for key, array in self.arrays(scores).items()
                for datatype in (self.types[key][0],)
            ]
        return {
            # KServe answers HTTP 500 for a v2 response without an id: always set one.
            "id": request_id or uuid.uuid4().hex,
            "model_name": name,
            "model_version": version,
            "outputs": outputs,
        }

    def arrays(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Each v2 output as an array of its datatype (BYTES: an object array of str)."""
        if self.task == "binary":
            return {
                "prediction": (scores >= 0.5).astype(np.int64),
                "probabilities": np.column_stack((1.0 - scores, scores)),
            }
        if self.task == "regression":
            return {"prediction": np.asarray(scores, dtype=np.float64)}
        predicted = self.predicted_labels(scores)
        if self.types["prediction"][0] == "INT64":
            predicted = predicted.astype(np.int64)
        return {"prediction": predicted, "probabilities": np.asarray(scores, dtype=np.float64)}

    def shape(self, name: str, n: int) -> list[int]:
        width = self.types[name][1]
        return [n] if width == 1 else [n, width]

    def output_types(self) -> list[dict[str, Any]]:
        """The model metadata's outputs (a batch dimension of -1)."""
        return [
            {"name": name, "datatype": datatype, "shape": self.shape(name, -1)}
            for name, (datatype, _) in self.types.items()
        ]

    def parameters(self) -> dict[str, Any]:
        """What the metadata says about the task: its name, and the classes' order."""
        classes = list(self.labels) if self.task == "multiclass" else [0, 1]
        return {"task": self.task, **({"classes": classes} if self.task != "regression" else {})}

    # ------------------------------------------------------------------ what is recorded

    def predicted_index(self, scores: np.ndarray) -> np.ndarray:
        """multiclass: the index (in ``classes`` order) of each row's most probable class."""
        return np.asarray(scores.argmax(axis=1))

    def predicted_labels(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(self._labels[self.predicted_index(scores)])

    def score_values(self, scores: np.ndarray) -> np.ndarray:
        """The one number per row that the score histogram and the payload log record."""
        if self.task == "multiclass":
            return np.asarray(scores.max(axis=1))
        return scores
