"""The predictor's Prometheus metrics, labelled with model name and version.

Canary and champion serve the same model name, so every series also carries
``model_version``: that is what lets the rollout compare them in PromQL. KServe's own
histograms (``request_predict_seconds`` and friends, labelled by model name) are kept
and fed as well.

    slipway_inference_requests_total{model_name, model_version, protocol, code}
    slipway_inference_request_duration_seconds{model_name, model_version}   histogram
    slipway_prediction_score{model_name, model_version}                    histogram
    slipway_predicted_class_total{model_name, model_version, class}        multiclass only
    slipway_feature_value{model_name, model_version, feature}              summary (raw units)
    slipway_feature_category_total{model_name, model_version, feature, category}
    slipway_feature_missing_total{model_name, model_version, feature}
    slipway_model_info{model_name, model_version, run_id, forward}         1

The per-feature statistics are kept as numpy accumulators and turned into metric families
only when Prometheus scrapes (a custom collector): updating them is a few vector additions
per request, whatever the batch size, instead of one locked counter update per value.

The score is what the rollout's score gate compares between canary and champion, per task
(slipway.serving.task_outputs): binary P(positive class), multiclass the predicted class's
probability (with the predicted classes counted beside it), regression the predicted value,
its buckets spread over the label's range.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from slipway.bundle.preprocessing import FittedPreprocessing
from slipway.data.contract import DatasetContract

#: Latency buckets, seconds: fine below 10 ms (where a healthy predictor answers) so the
#: rollout's p99 comparison has resolution, coarse above.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
#: Buckets of a regression's value: this many equal steps over the label's range.
VALUE_STEPS = 20
_SCORE_HELP = {
    "binary": "Predicted probability of the positive class.",
    "multiclass": "Predicted probability of the predicted class.",
    "regression": "Predicted value, in the label's units.",
}
#: Codes whose series exist from the start at zero: PromQL's increase() cannot see the
#: first increment of a series that appears with the value 1 already.
KNOWN_CODES = ("200", "400", "404", "413", "500")

_LABELS = ("model_name", "model_version")


class FeatureStats(Collector):
    """Running sums of each raw input feature, exported at scrape time."""

    def __init__(self, preprocessor: FittedPreprocessing, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.numeric = preprocessor.numeric
        self.categorical = preprocessor.categorical
        self._mean = np.array([f.mean for f in self.numeric], dtype=np.float64)
        self._std = np.array([f.std for f in self.numeric], dtype=np.float64)
        self._width = preprocessor.width
        self._count = 0
        self._sums = np.zeros(self._width, dtype=np.float64)
        self._missing = np.zeros(len(self.numeric) + len(self.categorical), dtype=np.int64)
        self._lock = threading.Lock()

    def observe(self, matrix: np.ndarray, missing: Sequence[int] = ()) -> None:
        """``matrix`` is the preprocessed batch (extra trailing columns are ignored);
        ``missing`` the indexes (in input order) of null values seen, one per null."""
        width = self._width
        with self._lock:
            self._count += matrix.shape[0]
            if matrix.shape[0] == 1:  # one numpy call for the common case
                self._sums += matrix[0, :width]
            else:
                self._sums += matrix[:, :width].sum(axis=0, dtype=np.float64)
            for index in missing:
                self._missing[index] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            count, sums, missing = self._count, self._sums.copy(), self._missing.copy()
        names = [*self.labels_names(), "feature"]
        value = SummaryMetricFamily(
            "slipway_feature_value",
            "Raw value of each numeric input feature (count and sum; nulls not counted).",
            labels=names,
        )
        n_numeric = len(self.numeric)
        for i, feat in enumerate(self.numeric):
            present = count - int(missing[i])
            # Standardised sums back to raw units: sum(x) = std * sum(z) + n * mean, where
            # nulls were encoded as z = 0 and are left out of n.
            raw_sum = float(self._std[i] * sums[i] + present * self._mean[i])
            value.add_metric([*self.labels, feat.name], present, raw_sum)
        yield value
        category = CounterMetricFamily(
            "slipway_feature_category",
            "Inputs per category of each categorical feature.",
            labels=[*names, "category"],
        )
        offset = n_numeric
        for cat in self.categorical:
            for k, level in enumerate(cat.categories):
                category.add_metric([*self.labels, cat.name, level], float(sums[offset + k]))
            offset += len(cat.categories)
        yield category
        nulls = CounterMetricFamily(
            "slipway_feature_missing", "Null inputs per feature.", labels=names
        )
        all_names = [f.name for f in self.numeric] + [c.name for c in self.categorical]
        for i, name in enumerate(all_names):
            nulls.add_metric([*self.labels, name], float(missing[i]))
        yield nulls

    @staticmethod
    def labels_names() -> tuple[str, ...]:
        return _LABELS


def score_buckets(contract: DatasetContract) -> tuple[float, ...]:
    """The score histogram's upper bounds for the task: probabilities in tenths; a
    regression's value in VALUE_STEPS steps over the label's declared range (the contract
    requires min and max for a regression label), the same for every version of the model,
    so that the rollout compares a canary's histogram with the champion's bucket by bucket
    and a shifted canary moves mass between buckets."""
    if contract.task != "regression":
        return SCORE_BUCKETS
    label = contract.column(contract.label)
    if label.min is None or label.max is None:  # the contract refuses it; a guard
        raise ValueError(f"regression label {label.name!r} has no declared range")
    high = label.max if label.max > label.min else label.min + 1.0
    edges = np.linspace(label.min, high, VALUE_STEPS + 1)
    return tuple(float(f"{edge:.6g}") for edge in edges)


class ServingMetrics:
    """The metric objects of one served model, with their label children bound once."""

    def __init__(
        self,
        model_name: str,
        model_version: str,
        run_id: str,
        forward: str,
        preprocessor: FittedPreprocessing | None,
        registry: CollectorRegistry = REGISTRY,
        buckets: Sequence[float] = SCORE_BUCKETS,
        classes: Sequence[str] = (),
        task: str = "binary",
    ) -> None:
        """``buckets``: the score histogram's (score_buckets); ``classes``: a multiclass
        model's labels in output order, counted per prediction; ``task`` the contract's."""
        labels = (model_name, model_version)
        self.requests = Counter(
            "slipway_inference_requests",
            "Inference requests by protocol and HTTP status code.",
            [*_LABELS, "protocol", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "slipway_inference_request_duration_seconds",
            "Time from request to response of inference requests, seconds.",
            _LABELS,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.score = Histogram(
            "slipway_prediction_score",
            _SCORE_HELP[task],
            _LABELS,
            buckets=tuple(buckets),
            registry=registry,
        )
        info = Gauge(
            "slipway_model_info",
            "The model this server serves (value 1).",
            [*_LABELS, "run_id", "forward"],
            registry=registry,
        )
        info.labels(*labels, run_id, forward).set(1)
        self._labels = labels
        self._children: dict[tuple[str, int], Counter] = {}
        for protocol in ("v1", "v2"):
            for code in KNOWN_CODES:
                self.count(protocol, int(code), 0)
        self.latency_child = self.latency.labels(*labels)
        self.score_child = self.score.labels(*labels)
        self.class_children: list[Any] = []
        if classes:
            predicted = Counter(
                "slipway_predicted_class",
                "Predictions per predicted class (multiclass).",
                [*_LABELS, "class"],
                registry=registry,
            )
            # Every class's series from the start, at zero (see KNOWN_CODES for why).
            self.class_children = [predicted.labels(*labels, c) for c in classes]
        self.features: FeatureStats | None = None
        if preprocessor is not None:
            self.features = FeatureStats(preprocessor, labels)
            registry.register(self.features)

    def count(self, protocol: str, code: int, amount: float = 1) -> None:
        child = self._children.get((protocol, code))
        if child is None:
            child = self.requests.labels(*self._labels, protocol, str(code))
            self._children[(protocol, code)] = child
        child.inc(amount)

    def observe_scores(self, scores: np.ndarray) -> None:
        observe = self.score_child.observe
        for value in scores.tolist():
            observe(value)

    def observe_classes(self, index: np.ndarray) -> None:
        """Count each row's predicted class (its index in the contract's classes)."""
        counts = np.bincount(index, minlength=len(self.class_children))
        for child, count in zip(self.class_children, counts.tolist(), strict=True):
            if count:
                child.inc(count)
