"""torch.compile as a cell setting, end to end in fresh processes (CPU inductor).

Compiles are slow on a small VM, so the cells share one module-scoped fixture and the
tiniest workloads (``tests/fixtures/compile_workloads.py``: bias-free linear layers, whose
compiled graphs are extern matrix multiplies with no C++ build). The plain loop's cell has its
own inductor cache folder in the run folder (the default), so its first repetition compiles
cold and its second finds the cache warm; the other cells share one session folder
(``PARADIGM_BENCH_COMPILE_CACHE``), as a user keeping a warm cache across runs would.
"""

from __future__ import annotations

import pytest

from harness.launch.runner import SHARED_CACHE_ENV, run_cell
from tests.conftest import FIXTURES, PARADIGMS, tiny_cell
from tests.fixtures.compile_workloads import SHAPES_RECOMPILE_LIMIT

BREAK = f"{FIXTURES / 'compile_workloads.py'}:CompileBreak"
SHAPES = f"{FIXTURES / 'compile_workloads.py'}:CompileShapes"


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("inductor-cache")


@pytest.fixture(scope="module")
def records(tmp_path_factory, shared_cache):
    run_dir = tmp_path_factory.mktemp("compiled")
    cell = tiny_cell(BREAK, "plain", compile="default")
    out = {"plain": run_cell(cell, run_dir, 0, environment={}),
           "plain-r1": run_cell(cell, run_dir, 1, environment={})}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SHARED_CACHE_ENV, str(shared_cache))
        # forked warm: the frameworks' compiles, not their imports, are what these check
        for paradigm in PARADIGMS[1:]:
            cell = tiny_cell(BREAK, paradigm, compile="default")
            out[paradigm.value] = run_cell(cell, run_dir, 0, environment={}, warm=True)
        documented = tiny_cell(BREAK, "lightning", compile="default",
                               compile_style="documented", profile="defaults")
        out["documented-defaults"] = run_cell(documented, run_dir, 0, environment={},
                                              warm=True)
    return out


@pytest.mark.parametrize("paradigm", [p.value for p in PARADIGMS])
def test_compiled_cells_end_ok_bitwise_equal_to_the_compiled_plain_loop(records, paradigm):
    record = records[paradigm]
    assert record["status"] == "ok", record.get("message")
    assert record["config"]["compile"] == "default"
    plain, mine = records["plain"]["measurements"], record["measurements"]
    assert mine["weights_sha256"] == plain["weights_sha256"]
    assert mine["losses"] == plain["losses"]  # exact float equality, every step
    assert len(mine["losses"]) == 14 and record["warnings"] == []


@pytest.mark.parametrize("paradigm", [p.value for p in PARADIGMS])
def test_the_deliberate_graph_break_is_counted_in_every_paradigm(records, paradigm):
    compiled = records[paradigm]["measurements"]["compile"]
    assert compiled["total"]["graphs"] == 2 and compiled["total"]["graph_breaks"] == 1
    assert compiled["total"]["recompiles"] == 0 and not compiled["recompile_limit_hit"]
    (reason,) = compiled["break_reasons"]
    assert "torch._dynamo.graph_break()" in reason
    assert compiled["after_warmup"] == {k: 0 for k in compiled["after_warmup"]} | {
        "compile_s": 0.0, "frame_compile_s": 0.0, "backward_compile_s": 0.0}


@pytest.mark.parametrize("paradigm", [p.value for p in PARADIGMS])
def test_phase_probes_keep_working_outside_the_compiled_region(records, paradigm):
    phases = records[paradigm]["measurements"]["phases"]
    assert phases["probed_steps"] > 0
    for name in ("forward", "backward", "optimizer", "framework_s"):
        value = phases[name]
        assert value == value and value > 0, (name, phases)


def test_a_warm_cache_makes_the_second_repetition_compile_faster(records):
    cold, warm = records["plain"], records["plain-r1"]
    assert cold["compile_cache"]["state"] == "cold" and warm["compile_cache"]["state"] == "warm"
    assert cold["compile_cache"]["state_from"] == warm["compile_cache"]["state_from"] \
        == "counters"
    assert cold["compile_cache"]["dir"] == warm["compile_cache"]["dir"]  # the cell's own folder
    cold_c, warm_c = (r["measurements"]["compile"] for r in (cold, warm))
    assert cold_c["cache"]["inductor_miss"] > 0 and cold_c["cache"]["inductor_hit"] == 0
    assert warm_c["cache"]["inductor_miss"] == 0 and warm_c["cache"]["inductor_hit"] > 0
    assert warm_c["total"]["compile_s"] < cold_c["total"]["compile_s"]


def test_other_cells_shared_the_session_cache(records, shared_cache):
    for name in ("lightning", "ignite", "documented-defaults"):
        assert records[name]["compile_cache"]["dir"] == str(shared_cache)
    # the state is the process's own counters' (lightning filled the cache), and the record
    # says the cache was shared
    assert records["ignite"]["compile_cache"]["state"] in ("warm", "partial")
    assert records["ignite"]["compile_cache"]["shared_by"] == ["PARADIGM_BENCH_COMPILE_CACHE"]


def test_lightning_documented_compile_with_self_log_is_lightnings_own_error(records):
    """Lightning 2.6.6 + torch >= 2.12: self.log in a compiled training_step fails in dynamo
    (upstream issue 21836); the cell says so instead of being worked around."""
    record = records["documented-defaults"]
    assert record["status"] == "error"
    assert "InternalTorchDynamoError" in record["message"]
    assert "is_param_in_hook_signature" in record["message"]  # Lightning's self.log path


def test_without_a_cpp_compiler_compiled_cells_are_unsupported_and_eager_cells_run(
        tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))  # inductor's compiler setting
    compiled = run_cell(tiny_cell(BREAK, "plain", compile="default"), tmp_path, 0,
                        environment={})
    eager = run_cell(tiny_cell(BREAK, "plain"), tmp_path, 0, environment={})
    assert compiled["status"] == "unsupported", compiled.get("message")
    assert "No working C++ compiler" in compiled["message"]
    assert "no-such-c++" in compiled["message"]
    assert eager["status"] == "ok", eager.get("message")


def test_endless_recompiles_end_at_dynamos_limit_with_the_count(tmp_path, shared_cache,
                                                                 monkeypatch):
    monkeypatch.setenv(SHARED_CACHE_ENV, str(shared_cache))
    record = run_cell(tiny_cell(SHAPES, "plain", compile="default"), tmp_path, 0,
                      environment={})
    assert record["status"] == "ok", record.get("message")
    compiled = record["measurements"]["compile"]
    assert compiled["recompile_limit"] == SHAPES_RECOMPILE_LIMIT
    assert compiled["recompile_limit_hit"]
    assert compiled["total"]["graphs"] == SHAPES_RECOMPILE_LIMIT  # then it runs eagerly
    assert compiled["total"]["recompiles"] == SHAPES_RECOMPILE_LIMIT  # the refused one too
    assert any("size mismatch" in r for r in compiled["recompile_reasons"])
    warnings = " ".join(record["warnings"])
    assert "recompile limit (3)" in warnings and "compiled during the measured steps" in warnings
