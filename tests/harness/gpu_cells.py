"""Every cell the GPU tests run, built in one place.

Every GPU-marked test takes its cells from here only (``tests/harness/test_gpu_cells.py``
checks that, and builds every one of them on a CPU machine): a GPU test whose cell the config
refuses (steps not a multiple of the window, say) fails in CI on arrival, not on a lent GPU.

Sizing: ``nox -s tests-gpu`` must finish within about 4 minutes on one H100/H200. A fresh cell
process there costs seconds (CUDA context, imports), so the paradigm x workload x precision
matrix trains in the test process (``harness.launch.worker.prepare``/``train``, the path the
pytest-benchmark suite uses), and only the tests of what a fresh process records (memory,
NVML, energy, MFU, warnings, the record itself) start cell processes: about ten in all.
"""

from __future__ import annotations

from harness.config import CellConfig, Paradigm
from tests.conftest import PARADIGMS, tiny_cell

WORKLOADS = ["linear", "mlp", "cnn", "gpt", "rnn"]
PRECISIONS = ["fp32", "bf16-mixed", "fp16-mixed"]


def cuda_cell(workload: str, paradigm: Paradigm | str, **overrides: object) -> CellConfig:
    """A tiny CUDA cell: 4 warm-up and 24 measured steps in windows of 8."""
    settings: dict[str, object] = dict(device="cuda", steps=24, warmup=4, window=8, workers=0,
                                       timeout_s=120)
    return tiny_cell(workload, paradigm, **{**settings, **overrides})


def parity_cells() -> dict[tuple[str, str, str, str], CellConfig]:
    """(workload, precision, data, paradigm) -> cell: every workload in every precision with
    the host loader, and the MLP with its data held on the device."""
    out = {}
    combos = [(w, prec, "host") for w in WORKLOADS for prec in PRECISIONS]
    combos += [("mlp", prec, "device") for prec in PRECISIONS]
    for workload, precision, data in combos:
        for p in PARADIGMS:
            out[workload, precision, data, p.value] = cuda_cell(workload, p, precision=precision,
                                                               data=data)
    return out


def record_cells() -> dict[str, CellConfig]:
    """The cells run as fresh processes, by the test that runs them."""
    return {
        # the record path on CUDA, end to end, in every paradigm
        **{f"record-{p.value}": cuda_cell("mlp", p, precision="bf16-mixed", data="device")
           for p in PARADIGMS},
        # memory order with the host loader and with the data on the device (twice: stable)
        "memory-host": cuda_cell("mlp", "plain", size="small"),
        "memory-device": cuda_cell("mlp", "plain", size="small", data="device"),
        # a 4096-wide MLP in bf16: compute-bound enough for an MFU well above zero
        "mfu": cuda_cell("mlp", "plain", size="default", batch_size=1024, steps=64,
                         precision="bf16-mixed", data="device"),
        "foreign": cuda_cell("linear", "plain"),
        **{f"ddp-{p.value}": cuda_cell("mlp", p, world_size=2, timeout_s=180)
           for p in PARADIGMS},
    }


def compile_cells() -> dict[str, CellConfig]:
    """CUDA graphs (reduce-overhead) on the tiny MLP, data on the device; the test runs them
    with one shared inductor cache, so that only the first compiles cold."""
    def cell(paradigm: str, **overrides: object) -> CellConfig:
        return cuda_cell("mlp", paradigm, warmup=6, timeout_s=300, compile="reduce-overhead",
                         data="device", **overrides)

    return {**{p.value: cell(p.value) for p in PARADIGMS},
            "ignite-defaults": cell("ignite", profile="defaults"),
            "lightning-documented": cell("lightning", compile_style="documented")}


def predict_cell() -> CellConfig:
    """Prediction through ONNX Runtime's CUDA provider, in the test process."""
    return cuda_cell("tabular", "plain", scenario="predict-onnxruntime", steps=6, warmup=2,
                     window=2)


def probe_cell() -> CellConfig:
    """The config of the in-process probe test (no process, no training)."""
    return cuda_cell("linear", "plain")


def warm_start_cell() -> CellConfig:
    """Lightning forked cold and warm (from a server that imported it) on the GPU."""
    return cuda_cell("linear", "lightning", steps=8)


def all_cells() -> list[CellConfig]:
    return [*parity_cells().values(), *record_cells().values(), *compile_cells().values(),
            predict_cell(), probe_cell(), warm_start_cell()]
