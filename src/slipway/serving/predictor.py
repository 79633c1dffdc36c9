"""The predictor: ``SlipwayPredictor``, a ``kserve.Model`` over a slipway model bundle.

It loads the bundle that MLflow stored (from a folder: KServe's ``/mnt/models``, or one
downloaded from a ``models:/`` URI) as plain data (slipway.bundle: no torch, no pandas, no
pickle), checks each request against the dataset contract's rules, applies the saved
preprocessing, runs the network (numpy for the built-in MLP, torch for a custom network)
and returns what the contract's task predicts (task_outputs.py: the class and the class
probabilities, or a value).

KServe calls ``preprocess -> predict -> postprocess`` when a request comes through its
own routes; slipway's lean HTTP layer (gateway.py) calls the same three steps directly.
Either way the contract checks, the preprocessing and the forward pass are these.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.metrics import POST_HIST_TIME, PRE_HIST_TIME, PREDICT_HIST_TIME
from kserve.protocol.infer_type import InferRequest
from prometheus_client import REGISTRY, CollectorRegistry

from slipway.bundle.layout import code_directories, find_bundle, read_bundle
from slipway.errors import RequestError
from slipway.serving.binary_tensors import BinaryResponse
from slipway.serving.forward import TorchForward, compile_network
from slipway.serving.payload_log import PayloadLog
from slipway.serving.request_checks import RequestValidator, Row
from slipway.serving.requested_outputs import OutputChoice, choose_outputs
from slipway.serving.task_outputs import TaskOutputs
from slipway.serving.telemetry import ServingMetrics, score_buckets

log = logging.getLogger(__name__)

V1, V2 = "v1", "v2"
#: A binary model's v2 outputs, in the order a response lists them when the request names
#: none (every task's: TaskOutputs.names).
OUTPUTS = ("prediction", "probabilities")


@dataclass
class Batch:
    """A checked request on its way through preprocess -> predict -> postprocess."""

    protocol: str
    rows: list[Row]
    matrix: np.ndarray
    request_id: str | None = None
    scores: np.ndarray | None = None
    outputs: tuple[OutputChoice, ...] = ()


class SlipwayPredictor(Model):  # type: ignore[misc]
    """The KServe Model of one version of one registered model, ready to predict."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        version: str = "unknown",
        run_id: str = "unknown",
        max_batch_size: int = 256,
        metrics_enabled: bool = True,
        feature_metrics: bool = True,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.version = version
        self.run_id = run_id
        self.max_batch_size = max_batch_size
        self.metrics_enabled = metrics_enabled
        self.feature_metrics = feature_metrics
        self.metrics: ServingMetrics | None = None
        self.registry = registry
        # What it serves, sampled (slipway.serving.payload_log); none: not recorded.
        self.payload_log: PayloadLog | None = None
        self.forward_kind = "none"

    # ------------------------------------------------------------------ loading

    def load(self) -> bool:
        # The bundle as plain data (no torch, no pickle); ModelError for a bundle without
        # weights.safetensors, naming the command that upgrades it.
        bundle = read_bundle(find_bundle(self.model_dir))
        self.contract = bundle.contract
        self.preprocessor = bundle.preprocessing
        self.validator = RequestValidator(
            bundle.contract, bundle.preprocessing, self.max_batch_size
        )
        self.task_outputs = TaskOutputs(bundle.contract)
        # Either pass takes its input with a trailing column of ones (see NumpyMLP).
        network = compile_network(
            bundle.spec, bundle.weights, bundle.contract.task, code_directories(self.model_dir)
        )
        self.forward = network.forward_augmented
        self.forward_kind = "torch" if isinstance(network, TorchForward) else "numpy"
        self._multiclass = bundle.contract.task == "multiclass"
        nullable = {c.name for c in bundle.contract.features if c.nullable}
        self._nullable = tuple(
            i for i, name in enumerate(bundle.preprocessing.input_names) if name in nullable
        )
        if self.metrics_enabled and self.metrics is None:
            self.metrics = ServingMetrics(
                self.name,
                self.version,
                self.run_id,
                self.forward_kind,
                bundle.preprocessing if self.feature_metrics else None,
                self.registry or REGISTRY,
                score_buckets(bundle.contract),
                tuple(str(c) for c in self.task_outputs.labels),
                bundle.contract.task,
            )
        # KServe's histograms, bound once (labels() costs a lock and a lookup per call).
        self.kserve_pre = PRE_HIST_TIME.labels(model_name=self.name)
        self.kserve_predict = PREDICT_HIST_TIME.labels(model_name=self.name)
        self.kserve_post = POST_HIST_TIME.labels(model_name=self.name)
        # One prediction before serving: the first request should not pay for warm-up.
        self.predict_rows(self.validator.rows_v1({"instances": [self.example()]}))
        log.info(
            "loaded %s version %s (run %s) from %s; forward pass: %s",
            self.name, self.version, self.run_id, self.model_dir, self.forward_kind,
        )  # fmt: skip
        self.ready = True
        return True

    def example(self) -> dict[str, Any]:
        """A valid instance (the middle of each range, the first category)."""
        example: dict[str, Any] = {}
        for col in self.contract.features:
            if col.dtype == "category":
                example[col.name] = (col.categories or ("",))[0]
            else:
                low = col.min if col.min is not None else 0.0
                high = col.max if col.max is not None else low
                middle = (low + high) / 2
                example[col.name] = round(middle) if col.dtype == "int" else middle
        return example

    # ------------------------------------------------------------------ the three steps

    def rows(self, protocol: str, body: Any) -> list[Row]:
        return self.validator.rows_v1(body) if protocol == V1 else self.validator.rows_v2(body)

    def predict_rows(self, rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray]:
        """(preprocessed matrix, the forward pass's scores: see slipway.serving.forward).
        The matrix may end with a column of ones, which the numpy pass uses for its biases."""
        matrix = self.preprocessor.transform_rows(rows, constant_column=True)
        return matrix, self.forward(matrix)

    def observe(
        self,
        rows: Sequence[Row],
        matrix: np.ndarray,
        scores: np.ndarray,
        request_id: str | None = None,
    ) -> None:
        values = self.task_outputs.score_values(scores)
        index = self.task_outputs.predicted_index(scores) if self._multiclass else None
        if self.payload_log is not None:
            classes = None if index is None else self.task_outputs.predicted_labels(scores)
            self.payload_log.record(rows, values, request_id, classes)
        if self.metrics is None:
            return
        self.metrics.observe_scores(values)
        if index is not None:
            self.metrics.observe_classes(index)
        if self.metrics.features is not None:
            missing = (
                [i for row in rows for i in self._nullable if row[i] is None]
                if self._nullable
                else ()
            )
            self.metrics.features.observe(matrix, missing)

    def encode(
        self,
        protocol: str,
        scores: np.ndarray,
        request_id: str | None,
        outputs: tuple[OutputChoice, ...] = (),
    ) -> dict[str, Any] | BinaryResponse:
        """The response body; for v2, only the ``outputs`` chosen (all, as JSON, when none
        are), and a BinaryResponse when one of them goes in the binary part."""
        if outputs:
            return self.encode_chosen(scores, request_id, outputs)
        if protocol == V1:
            return self.task_outputs.v1(scores)
        return self.task_outputs.v2(scores, request_id, self.name, self.version)

    def encode_chosen(
        self, scores: np.ndarray, request_id: str | None, outputs: tuple[OutputChoice, ...]
    ) -> dict[str, Any] | BinaryResponse:
        n = len(scores)
        arrays = self.task_outputs.arrays(scores)
        header: dict[str, Any] = {
            "id": request_id or uuid.uuid4().hex,
            "model_name": self.name,
            "model_version": self.version,
            "outputs": [],
        }
        binary = BinaryResponse(header) if any(c.binary for c in outputs) else None
        for choice in outputs:
            array = arrays[choice.name]
            output: dict[str, Any] = {
                "name": choice.name,
                "datatype": self.task_outputs.types[choice.name][0],
                "shape": self.task_outputs.shape(choice.name, n),
            }
            if choice.binary and binary is not None:
                binary.add(output, array)
            else:
                output["data"] = array.ravel().tolist()
            header["outputs"].append(output)
        return binary if binary is not None else header

    def parse(
        self, protocol: str, body: Any
    ) -> tuple[str | None, tuple[OutputChoice, ...], list[Row]]:
        """(request id, requested outputs, rows) of a decoded body, every field checked
        strictly. Raises RequestError for a bad request."""
        request_id: str | None = None
        outputs: tuple[OutputChoice, ...] = ()
        if protocol == V2 and type(body) is dict:  # any other body: rows_v2 says what is wrong
            request_id = request_id_of(body)
            outputs = choose_outputs(body, self.task_outputs.names)
        return request_id, outputs, self.rows(protocol, body)

    def infer(self, protocol: str, body: Any) -> dict[str, Any] | BinaryResponse:
        """All three steps for a decoded body (the lean HTTP path), timed into KServe's
        histograms. Raises RequestError for a bad request."""
        t0 = time.perf_counter()
        request_id, outputs, rows = self.parse(protocol, body)
        t1 = time.perf_counter()
        matrix, scores = self.predict_rows(rows)
        t2 = time.perf_counter()
        self.observe(rows, matrix, scores, request_id)
        response = self.encode(protocol, scores, request_id, outputs)
        t3 = time.perf_counter()
        self.kserve_pre.observe(t1 - t0)
        self.kserve_predict.observe(t2 - t1)
        self.kserve_post.observe(t3 - t2)
        return response

    # ------------------------------------------------------------------ KServe's hooks

    def validate(self, payload: Any) -> Any:
        # Checking happened in preprocess, against the contract; KServe's generic check
        # would look for "instances" in our Batch object.
        return payload

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> Batch:
        protocol, body = V1, payload
        if isinstance(payload, InferRequest):
            protocol = V2
            body = {
                "id": payload.id,
                "inputs": [
                    {
                        "name": t.name,
                        "datatype": t.datatype,
                        "shape": list(t.shape),
                        "data": t.data if isinstance(t.data, list) else np.asarray(t.data).tolist(),
                    }
                    for t in payload.inputs
                ],
            }
            if payload.request_outputs:
                body["outputs"] = [
                    {"name": o.name, "parameters": o.parameters or {}}
                    for o in payload.request_outputs
                ]
            if payload.parameters:
                body["parameters"] = dict(payload.parameters)
        try:
            rows = self.rows(protocol, body)
            request_id: str | None = None
            outputs: tuple[OutputChoice, ...] = ()
            if protocol == V2:
                request_id = request_id_of(body)
                outputs = choose_outputs(body, self.task_outputs.names)
        except RequestError as exc:
            raise InvalidInput(exc.message) from exc
        return Batch(protocol, rows, np.empty(0), request_id, outputs=outputs)

    def predict(self, payload: Batch, headers: dict[str, str] | None = None) -> Batch:
        payload.matrix, payload.scores = self.predict_rows(payload.rows)
        self.observe(payload.rows, payload.matrix, payload.scores, payload.request_id)
        return payload

    async def postprocess(self, result: Batch, headers: dict[str, str] | None = None) -> Any:
        """The response: a dict, or KServe's InferResponse when an output is binary."""
        assert result.scores is not None
        if any(c.binary for c in result.outputs):
            return self._kserve_binary(result)
        return self.encode(result.protocol, result.scores, result.request_id, result.outputs)

    def _kserve_binary(self, result: Batch) -> Any:
        # Through KServe's own routes, binary outputs are KServe's: an InferResponse whose
        # requested outputs say which are binary, encoded by KServe's to_rest.
        from kserve.protocol.infer_type import InferOutput, InferResponse, RequestedOutput

        assert result.scores is not None
        arrays = self.task_outputs.arrays(result.scores)
        types = self.task_outputs.types
        outputs = [
            InferOutput(c.name, list(arrays[c.name].shape), types[c.name][0], arrays[c.name])
            for c in result.outputs
        ]
        return InferResponse(
            result.request_id or uuid.uuid4().hex,
            self.name,
            outputs,
            model_version=self.version,
            requested_outputs=[
                RequestedOutput(c.name, {"binary_data": c.binary}) for c in result.outputs
            ],
        )

    def get_input_types(self) -> list[dict[str, Any]]:
        return self.validator.input_types()

    def get_output_types(self) -> list[dict[str, Any]]:
        return self.task_outputs.output_types()

    def metadata(self) -> dict[str, Any]:
        """The v2 model metadata, with each input's contract (range, categories)."""
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": f"slipway-{self.forward_kind}",
            "inputs": self.get_input_types(),
            "outputs": self.get_output_types(),
            "parameters": {
                "run_id": self.run_id,
                "max_batch_size": self.max_batch_size,
                **self.task_outputs.parameters(),
            },
        }


def request_id_of(body: Any) -> str | None:
    if type(body) is dict:
        value = body.get("id")
        if value is None:
            return None
        if type(value) is str and len(value) <= 256:
            return value
        raise RequestError(400, '"id" must be a string of at most 256 characters', "id")
    return None
