"""The request and response of POST /predict: exact floats, and bad input refused clearly."""

import json

import numpy as np
import pytest
import torch

from harness.serve.protocol import InputRejected, InputSpec, answer, request_body, to_tensor

SPEC = InputSpec((3,), "float32", max_rows=4)


def test_fp32_values_round_trip_through_json_bit_for_bit():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=4000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, 1.1754944e-38, 0.1, 1 / 3],
                       dtype=np.float32)
    sent = torch.from_numpy(np.concatenate([values, special])).reshape(1, -1)
    # request side: the client's body, read the way the server reads it
    arrived = to_tensor(json.loads(request_body(sent))["inputs"],
                        InputSpec((sent.shape[1],), "float32"))
    assert arrived.numpy().tobytes() == sent.numpy().tobytes()
    # answer side: the server's body, read the way the generator reads it
    read = np.asarray(json.loads(json.dumps(answer(sent)))["outputs"], dtype=np.float32)
    assert read.tobytes() == sent.numpy().tobytes()


def test_answer_holds_prediction_confidence_and_outputs():
    out = answer(torch.tensor([[0.0, 2.0, 1.0]]))
    assert out["prediction"] == [1]
    assert out["confidence"][0] == pytest.approx(float(torch.softmax(
        torch.tensor([0.0, 2.0, 1.0]), 0)[1]))
    assert out["outputs"] == [[0.0, 2.0, 1.0]]


@pytest.mark.parametrize(("inputs", "says"), [
    ([[1.0, 2.0]], "shape (n, 3)"),
    ([1.0, 2.0, 3.0], "shape (n, 3)"),
    ([[1.0, 2.0, 3.0]] * 5, "1 <= n <= 4"),
    ([], "shape (n, 3)"),
    ([[1.0, 2.0], [1.0, 2.0, 3.0]], "rows of different lengths"),
    ([["a", "b", "c"]], "type str"),
    ([[True, False, True]], "type bool"),
    ([[1.0, None, 2.0]], "mixed or null"),
])
def test_bad_rows_are_refused_with_what_was_expected(inputs, says):
    with pytest.raises(InputRejected, match=says.replace("(", r"\(").replace(")", r"\)")):
        to_tensor(inputs, SPEC)


def test_token_models_refuse_floats_and_take_integers():
    spec = InputSpec((2,), "int64")
    with pytest.raises(InputRejected, match="integers"):
        to_tensor([[1.5, 2.0]], spec)
    assert to_tensor([[1, 2]], spec).dtype == torch.int64


def test_an_artifact_exported_at_n_rows_takes_only_n():
    spec = InputSpec((3,), "float32", exact_rows=1)
    with pytest.raises(InputRejected, match="exported for n = 1"):
        to_tensor([[1.0, 2.0, 3.0]] * 2, spec)
    assert to_tensor([[1, 2, 3]], spec).dtype == torch.float32
