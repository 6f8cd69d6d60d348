"""``POST /predict``: what a request carries, how it is checked, what the answer holds.

Request: ``{"inputs": [[...], ...]}``, one row per example, each row shaped as the workload's
model input. Answer: ``{"prediction": [...], "confidence": [...], "outputs": [[...]]}``: the
arg-max class, its softmax probability, and the raw outputs (for the parity check).

Floats round-trip exactly: an fp32 value widened to a Python float is exact, ``json.dumps``
writes the shortest decimal that reads back to the same double (``float.__repr__``), and a
reader's double narrowed to fp32 is the value sent. So the outputs a client reads equal the
server's fp32 outputs bit for bit, and fp32 inputs written the same way arrive unchanged.
(A non-finite output cannot be JSON; FastAPI answers 500 for it, which the generator counts.)

Bad input is a 4xx with a message that says what was expected: a body over the limit 413
(checked on ``Content-Length`` before anything is parsed, by ``BodyLimit``, an ASGI middleware
both servers use); malformed JSON, an empty body or a missing ``inputs`` 422 (FastAPI's own
body validation, in both servers); a wrong shape, a ragged list, or a dtype the model does not
take 422 (``to_tensor``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import Tensor

FLOAT_KINDS = "fi"  # numbers a float model takes (ints are exact in fp32 up to 2**24)
INT_KINDS = "i"  # token ids


class PredictRequest(BaseModel):
    """The request body: rows checked by ``to_tensor`` (pydantic only checks it is a list, so
    that it never coerces a string to a number)."""

    inputs: list[Any]


class InputRejected(ValueError):
    """A request the model cannot take; the message goes back to the client."""


@dataclass(frozen=True)
class InputSpec:
    """What one row is: the model input's shape without its batch dimension, and its dtype."""

    row_shape: tuple[int, ...]
    dtype: str  # a torch dtype's name: "float32", "int64"
    max_rows: int = 64
    max_body_bytes: int = 1 << 20
    exact_rows: int | None = None  # an artifact exported at n rows takes only n (static shape)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        return {"row_shape": list(self.row_shape), "dtype": self.dtype,
                "max_rows": self.max_rows, "max_body_bytes": self.max_body_bytes,
                "exact_rows": self.exact_rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(tuple(data["row_shape"]), data["dtype"], data["max_rows"],
                   data["max_body_bytes"], data.get("exact_rows"))


def to_tensor(inputs: list[Any], spec: InputSpec) -> Tensor:
    """The rows as a tensor of the model's dtype, or ``InputRejected`` saying why not."""
    expected = f"(n, {', '.join(map(str, spec.row_shape))})".replace(", )", ")")
    try:
        array = np.asarray(inputs)
    except ValueError:
        raise InputRejected(f"inputs must be a rectangular list of rows of shape {expected}; "
                            "got rows of different lengths") from None
    floating = spec.torch_dtype.is_floating_point
    allowed = FLOAT_KINDS if floating else INT_KINDS
    if array.dtype.kind not in allowed:
        want = "numbers" if floating else "integers (token ids)"
        raise InputRejected(f"inputs must be {want}; got values of type {_kind(array)}")
    if (array.ndim != len(spec.row_shape) + 1 or tuple(array.shape[1:]) != spec.row_shape
            or not 1 <= array.shape[0] <= spec.max_rows):
        raise InputRejected(f"inputs must have shape {expected} with 1 <= n <= "
                            f"{spec.max_rows}; got shape {tuple(array.shape)}")
    if spec.exact_rows is not None and array.shape[0] != spec.exact_rows:
        raise InputRejected(f"this artifact was exported for n = {spec.exact_rows} rows (a "
                            f"static shape); got {array.shape[0]}")
    return torch.from_numpy(np.ascontiguousarray(array)).to(spec.torch_dtype)


def _kind(array: np.ndarray) -> str:
    return {"b": "bool", "U": "str", "S": "bytes", "O": "mixed or null",
            "f": "float"}.get(array.dtype.kind, str(array.dtype))


def answer(outputs: Tensor) -> dict[str, Any]:
    """The response body of a batch of outputs (on any device)."""
    out = outputs.detach().float().cpu()
    probabilities = torch.softmax(out, dim=-1)
    confidence, prediction = probabilities.max(dim=-1)
    return {"prediction": prediction.tolist(), "confidence": confidence.tolist(),
            "outputs": out.tolist()}


def request_body(rows: Tensor) -> bytes:
    """What a client sends for ``rows`` (exact: see the module's note on floats)."""
    return json.dumps({"inputs": rows.tolist()}).encode()


class BodyLimit:
    """An ASGI middleware: a ``POST`` whose ``Content-Length`` is over ``max_bytes`` gets 413,
    its body read and dropped as it arrives (never held or parsed). A chunked body (no length)
    is let through: FastAPI reads it whole; the clients the harness uses always send one."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(receive, send, int(length))
                return
        await self.app(scope, receive, send)

    async def _refuse(self, receive: Any, send: Any, length: int) -> None:
        while True:  # read and drop the body (never held), so the client hears the answer
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body"):
                break
        body = json.dumps({"detail": f"request body of {length} bytes is over the limit of "
                                     f"{self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
