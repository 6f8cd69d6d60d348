"""Which region each paradigm compiles, and what a compiled cell refuses, without compiling."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.exc import BackendCompilerFailed
from torch._inductor.exc import InvalidCxxCompiler

from harness.config import CompileMode, CompileStyle, Paradigm
from harness.launch.failures import classify
from harness.precision import UnsupportedConfig
from harness.results import Status
from harness.training import compile as compile_
from tests.conftest import tiny_cell

CPU = torch.device("cpu")


@pytest.mark.parametrize("paradigm, style, model, module", [
    ("plain", "model", True, False), ("ignite", "model", True, False),
    ("lightning", "model", True, False),
    # documented: the plain loop's and Ignite's way is the model; Lightning's the LightningModule
    ("plain", "documented", True, False), ("ignite", "documented", True, False),
    ("lightning", "documented", False, True),
])
def test_the_compiled_region_per_paradigm_and_style(paradigm, style, model, module):
    cfg = tiny_cell("linear", paradigm, compile="default", compile_style=style)
    assert compile_.compiles_model(cfg) is model
    assert compile_.compiles_lightning_module(cfg) is module
    eager = tiny_cell("linear", paradigm)
    assert not compile_.compiles_model(eager) and not compile_.compiles_lightning_module(eager)


def test_an_eager_cell_trains_the_model_itself_and_a_compiled_one_a_wrapper_of_it():
    model = torch.nn.Linear(2, 2)
    assert compile_.model_region(tiny_cell("linear"), model) is model
    region = compile_.model_region(tiny_cell("linear", compile="max-autotune-no-cudagraphs"),
                                   model)
    assert region._orig_mod is model  # an OptimizedModule over the same parameters
    assert list(region.parameters()) == list(model.parameters())


def test_reduce_overhead_on_cpu_is_unsupported_never_run_as_default():
    cfg = tiny_cell("linear", compile="reduce-overhead")
    with pytest.raises(UnsupportedConfig, match="CUDA graphs, which need a CUDA device") as info:
        compile_.check_supported(cfg, CPU)
    assert classify(info.value) is Status.UNSUPPORTED
    compile_.check_supported(tiny_cell("linear", compile="default"), CPU)  # gcc is here
    compile_.check_supported(tiny_cell("linear"), CPU)


def test_no_cpp_compiler_is_found_before_training():
    with torch._inductor.config.patch({"cpp.cxx": (None, "/no/such/c++")}):
        with pytest.raises(UnsupportedConfig, match=r"No working C\+\+ compiler.*no/such"):
            compile_.check_supported(tiny_cell("linear", compile="default"), CPU)
        compile_.check_supported(tiny_cell("linear"), CPU)  # eager cells need none


def test_a_missing_compiler_found_mid_training_is_unsupported_other_failures_errors():
    wrapped = BackendCompilerFailed("inductor", InvalidCxxCompiler(), None)
    wrapped.__cause__ = wrapped.inner_exception
    assert classify(wrapped) is Status.UNSUPPORTED
    assert classify(BackendCompilerFailed("inductor", RuntimeError("bug"), None)) is Status.ERROR


def test_only_cuda_graph_cells_copy_the_recorded_losses():
    assert compile_.uses_cuda_graphs(tiny_cell("linear", compile="reduce-overhead"))
    assert not compile_.uses_cuda_graphs(tiny_cell("linear", compile="default"))
    assert {m.value for m in CompileMode} == {"none", "default", "reduce-overhead",
                                              "max-autotune-no-cudagraphs"}
    assert {s.value for s in CompileStyle} == {"model", "documented"}
    assert Paradigm.LIGHTNING.value == "lightning"
