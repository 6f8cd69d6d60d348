"""``torch.compile`` as a cell setting: which region is compiled, in one place for all three.

The region (``CellConfig.compile_style``):

- ``model`` (the fair comparison, the default): the workload's ``nn.Module``, compiled the same
  way in every paradigm. The plain loop and Ignite train ``torch.compile(model)`` (the way both
  compile: the model they train); Lightning's LightningModule holds ``torch.compile(model)`` as
  its model. Everything else (the rest of ``Workload.loss``, the backward call, the optimizer
  step, the framework's loop and hooks, the harness's probes) runs eagerly, outside the region,
  alike in all three.
- ``documented`` (what a user gets): each framework's documented way. For the plain loop and
  Ignite that is again the model they train; Lightning's is ``torch.compile(lightning_module)``
  before ``fit``, which ``fit`` unwraps to compile ``forward`` and every ``*_step``: the
  training step, ``self.log`` included, is inside the region. Lightning 2.6.6 with torch 2.12
  or later fails there when ``self.log`` runs (upstream issue 21836): the cell is an ``error``
  with Lightning's own message.

Modes are torch.compile's own. ``reduce-overhead`` (CUDA graphs) has no CPU implementation, so
a CPU cell is ``unsupported`` rather than silently run as ``default``. CPU inductor compiles
C++: without a working C++ compiler (``CXX``, ``torch._inductor.config.cpp.cxx``) a compiled
CPU cell is ``unsupported`` with the compiler error, found before training starts.
The inductor cache folder is the runner's business (``harness.launch.runner.compile_cache``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.config import CellConfig, CompileMode, CompileStyle, Paradigm
from harness.precision import UnsupportedConfig


def check_supported(cfg: CellConfig, device: torch.device) -> None:
    """Refuse what cannot compile here, before anything is built or timed."""
    if cfg.compile is CompileMode.NONE:
        return
    if cfg.compile is CompileMode.REDUCE_OVERHEAD and device.type != "cuda":
        raise UnsupportedConfig("compile 'reduce-overhead' records CUDA graphs, which need a "
                                "CUDA device; on CPU it would silently run as 'default'")
    if device.type == "cpu":
        compiler_problem = missing_cpp_compiler()
        if compiler_problem:
            raise UnsupportedConfig(f"torch.compile on CPU (inductor) needs a working C++ "
                                    f"compiler: {compiler_problem}")


def missing_cpp_compiler() -> str | None:
    """Inductor's own compiler search (``CXX`` / ``cpp.cxx``): its error, or None if found."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except (exc.InvalidCxxCompiler, RuntimeError, OSError) as error:
        return f"{type(error).__name__}: {error}".strip()
    return None


def compiler_missing(error: BaseException) -> bool:
    """Whether a failure during training is inductor finding no C++ compiler (``unsupported``,
    like the check before training) rather than a bug (``error``)."""
    from torch._inductor.exc import InvalidCxxCompiler

    seen: BaseException | None = error
    for _ in range(16):  # the cause chain: dynamo wraps the backend's exception
        if seen is None:
            return False
        if isinstance(seen, InvalidCxxCompiler):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def compiles_model(cfg: CellConfig) -> bool:
    """Whether this paradigm compiles the workload's nn.Module (every paradigm under the
    ``model`` style; under ``documented``, the plain loop and Ignite, whose way it is)."""
    if cfg.compile is CompileMode.NONE:
        return False
    return cfg.compile_style is CompileStyle.MODEL or cfg.paradigm is not Paradigm.LIGHTNING


def compiles_lightning_module(cfg: CellConfig) -> bool:
    """Lightning's documented compile: ``torch.compile`` on the whole LightningModule."""
    return (cfg.compile is not CompileMode.NONE and cfg.paradigm is Paradigm.LIGHTNING
            and cfg.compile_style is CompileStyle.DOCUMENTED)


def compiled(cfg: CellConfig, module: nn.Module) -> Any:
    """``torch.compile(module)`` in the cell's mode (an ``OptimizedModule`` sharing the
    module's parameters); the module itself for an eager cell."""
    if cfg.compile is CompileMode.NONE:
        return module
    return torch.compile(module, mode=cfg.compile.value)


def model_region(cfg: CellConfig, model: nn.Module) -> nn.Module:
    """What the paradigm trains in place of ``model``: compiled where the cell's region is the
    model, else the model itself."""
    return compiled(cfg, model) if compiles_model(cfg) else model


def uses_cuda_graphs(cfg: CellConfig) -> bool:
    """CUDA graph trees overwrite a graph's outputs on the next replay: tensors kept across
    steps (the harness's recorded losses) must be copies."""
    return cfg.compile is CompileMode.REDUCE_OVERHEAD
