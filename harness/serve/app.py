"""The FastAPI application the articles serve with: ``GET /health`` and ``POST /predict``.

One uvicorn worker, one torch thread; the handler is ``async`` and calls the model on the event
loop (requests are answered one at a time, in arrival order, no batching and no thread pool).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from harness.serve.predictors import Predictor
from harness.serve.protocol import (
    BodyLimit,
    InputRejected,
    InputSpec,
    PredictRequest,
    answer,
    to_tensor,
)

HEALTHY = {"status": "ok"}


def create_app(predict: Predictor, spec: InputSpec) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=spec.max_body_bytes)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return HEALTHY

    @app.post("/predict")
    async def predict_endpoint(request: PredictRequest) -> dict[str, Any]:
        try:
            x = to_tensor(request.inputs, spec)
        except InputRejected as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return answer(predict(x))

    return app


def noop_app(spec: InputSpec) -> FastAPI:
    """The generator's ceiling: the same stack, body checks and parsing, no model (a fixed
    answer), so that what it measures is the client and the HTTP path, not a model."""
    import torch

    fixed = torch.zeros(1, 1)
    return create_app(lambda _: fixed, spec)
