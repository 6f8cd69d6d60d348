"""LitServe, Lightning's serving library, serving the Lightning path's module.

``LitAPI``'s four steps: ``setup`` builds the predictor (in LitServe's inference worker
process), ``decode_request`` checks the rows (``protocol.to_tensor``), ``predict`` calls the
module, ``encode_response`` writes the same answer as the FastAPI paths. ``decode_request`` is
annotated with the request model, so FastAPI (under LitServe) validates the body as it does in
the FastAPI paths. Batching off: ``max_batch_size = 1``; one API server process (LitServe's
uvicorn) and one inference worker, both on the server's CPU. (No ``from __future__ import
annotations`` here: LitServe reads ``decode_request``'s annotation as a class.)
"""

from typing import Any

import litserve as ls
from fastapi import HTTPException
from torch import Tensor

from harness.serve.protocol import (
    BodyLimit,
    InputRejected,
    InputSpec,
    PredictRequest,
    answer,
    to_tensor,
)
from harness.serve.spec import BATCH_TIMEOUT_S, MAX_BATCH_SIZE


class ServeAPI(ls.LitAPI):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.input_spec = InputSpec.from_dict(config["input"])

    def setup(self, device: str) -> None:
        from harness.serve.predictors import build

        self.run = build(self.config)

    def decode_request(self, request: PredictRequest) -> Tensor:
        try:
            return to_tensor(request.inputs, self.input_spec)
        except InputRejected as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    def predict(self, x: Tensor) -> Tensor:
        return self.run(x)

    def encode_response(self, output: Tensor) -> dict[str, Any]:
        return answer(output)


def serve(config: dict[str, Any]) -> None:
    """Run LitServe on ``config["port"]`` until the process is stopped."""
    spec = InputSpec.from_dict(config["input"])
    accelerator = "cuda" if config["device"].startswith("cuda") else "cpu"
    server = ls.LitServer(ServeAPI(config), accelerator=accelerator, devices=1,
                          workers_per_device=1, max_batch_size=MAX_BATCH_SIZE,
                          batch_timeout=BATCH_TIMEOUT_S, timeout=config["request_timeout_s"],
                          middlewares=[(BodyLimit, {"max_bytes": spec.max_body_bytes})])
    server.run(host="127.0.0.1", port=config["port"], num_api_servers=1, log_level="warning",
               generate_client_file=False)
