"""Which outputs a v2 inference request asks for, and in which encoding.

The Open Inference Protocol lets a request name the output tensors it wants (``outputs``,
each with optional ``parameters``); only those come back. The binary tensor data extension
adds ``parameters.binary_data`` per requested output and ``binary_data_output`` on the
request (the default for every output that does not say). A request that names neither
gets every output as JSON: that is the hot path, and it costs two dictionary lookups here.

An output the model does not have, a name given twice, or a parameter of the wrong type is
a RequestError (400) naming ``outputs`` (or ``parameters``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.errors import RequestError

#: Triton's parameters that change what an output holds; slipway does not implement them,
#: and answering without them would be a different answer than the client asked for.
_UNSUPPORTED = ("classification",)


@dataclass(frozen=True)
class OutputChoice:
    """One output to return: its name, and whether its data goes in the binary part."""

    name: str
    binary: bool


def choose_outputs(body: dict[str, Any], available: tuple[str, ...]) -> tuple[OutputChoice, ...]:
    """The outputs to answer with, in the order asked (all of ``available`` when the
    request names none); empty when the request leaves everything at its default (every
    output, as JSON)."""
    parameters = body.get("parameters")
    outputs = body.get("outputs")
    if parameters is None and outputs is None:
        return ()
    binary_default = False
    if parameters is not None:
        if type(parameters) is not dict:
            raise RequestError(400, '"parameters" must be an object', "parameters")
        binary_default = _flag(parameters, "binary_data_output", "parameters")
    if outputs is None or outputs == []:
        return tuple(OutputChoice(name, binary_default) for name in available)
    if type(outputs) is not list:
        raise RequestError(400, '"outputs" must be a list of objects with a "name"', "outputs")
    chosen: list[OutputChoice] = []
    for k, output in enumerate(outputs):
        where = f"outputs[{k}]"
        if type(output) is not dict or type(output.get("name")) is not str:
            raise RequestError(400, f'{where} must be an object with a string "name"', "outputs")
        name = output["name"]
        if name not in available:
            raise RequestError(
                400,
                f"{where}: unknown output {name!r} (this model's outputs: {', '.join(available)})",
                "outputs",
            )
        if any(c.name == name for c in chosen):
            raise RequestError(400, f"{where}: output {name!r} requested twice", "outputs")
        binary = binary_default
        params = output.get("parameters")
        if params is not None:
            if type(params) is not dict:
                raise RequestError(400, f"{where}.parameters must be an object", "outputs")
            for key in _UNSUPPORTED:
                if params.get(key) not in (None, 0):
                    raise RequestError(
                        400, f"{where}: parameter {key!r} is not supported", "outputs"
                    )
            if "binary_data" in params:
                binary = _flag(params, "binary_data", "outputs")
        chosen.append(OutputChoice(name, binary))
    return tuple(chosen)


def _flag(parameters: dict[str, Any], key: str, field: str) -> bool:
    value = parameters.get(key, False)
    if type(value) is not bool:
        raise RequestError(400, f"parameter {key!r} must be true or false", field)
    return value
