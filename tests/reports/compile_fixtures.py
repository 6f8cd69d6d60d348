"""Fabricated compiled records: eager and ``compile = "default"`` cells of one config.

The compiled step shrinks by a fixed amount while each framework keeps its per-step host
cost, so the overhead's share grows: plain 1.0 -> 0.4 ms, Lightning 1.3 -> 0.7 ms, Ignite
1.05 -> 0.45 ms (no timing noise), each with the same framework time per step eager and
compiled. Repetition 0 of a compiled cell compiles cold (30 s), the later ones warm (4 s); one
graph break each; Lightning's documented compile with ``self.log`` fails the way Lightning
2.6.6 fails on torch >= 2.12.
"""

from __future__ import annotations

from typing import Any

from tests.reports.fixtures import cell, fake_record

EAGER_STEP = {"plain": 1.0e-3, "lightning": 1.3e-3, "ignite": 1.05e-3}
FRAMEWORK_S = {"plain": 0.2e-3, "lightning": 0.5e-3, "ignite": 0.25e-3}  # eager and compiled
SAVED_S = 0.6e-3
COLD_S, WARM_S = 30.0, 4.0
ISSUE_21836 = ("rank 0: InternalTorchDynamoError: AttributeError: 'method' object has no "
               "attribute '__dict__'\n\nfrom user code:\n  File \"pytorch_lightning/core/"
               "module.py\", line 514, in log\n    and is_param_in_hook_signature("
               "self.training_step, \"dataloader_iter\", explicit=True)")


def _compile_figures(rep: int) -> dict[str, Any]:
    seconds = COLD_S if rep == 0 else WARM_S
    snapshot = {"compile_s": seconds, "frame_compile_s": seconds * 0.8,
                "backward_compile_s": seconds * 0.2, "graphs": 2, "graph_breaks": 1,
                "recompiles": 0}
    zero = {k: 0 for k in snapshot}
    return {"total": snapshot, "after_warmup": zero,
            "break_reasons": {"Call to `torch._dynamo.graph_break()`": 1},
            "recompile_reasons": [], "recompile_limit": 8, "recompile_limit_hit": False,
            "frames": 2, "cache": {}, "cpp_compiler": "g++", "syncs_per_step": None}


def _with_phases(record: dict[str, Any], paradigm: str) -> dict[str, Any]:
    m = record["measurements"]
    m["phases"] = {"step_host_s": m["step_time_s"], "framework_s": FRAMEWORK_S[paradigm]}
    return record


def compiled_records(repetitions: int = 3) -> list[dict[str, Any]]:
    out = []
    for rep in range(repetitions):
        for paradigm, eager in EAGER_STEP.items():
            out.append(_with_phases(fake_record(cell("mlp", paradigm), rep, eager, noise=0.0),
                                    paradigm))
            record = _with_phases(fake_record(cell("mlp", paradigm, compile="default"), rep,
                                              eager - SAVED_S, noise=0.0), paradigm)
            record["measurements"]["compile"] = _compile_figures(rep)
            record["measurements"]["startup"]["to_first_step_s"] += record[
                "measurements"]["compile"]["total"]["compile_s"]
            record["compile_cache"] = {"dir": "/cache", "state": "cold" if rep == 0 else "warm"}
            out.append(record)
        documented = cell("mlp", "lightning", compile="default", compile_style="documented",
                          profile="defaults")
        out.append(fake_record(documented, rep, status="error", message=ISSUE_21836))
    return out
