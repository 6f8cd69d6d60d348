"""A compiled repetition's cache state comes from its own cache hit and miss counters, not
from whether the cache folder held files (synthetic counters: no compile runs here)."""

from __future__ import annotations

import pytest

from harness.analyse.aggregate import cache_state
from harness.launch.runner import SHARED_CACHE_ENV, compile_cache_entry, folder_state

COLD = {"inductor_hit": 0, "inductor_miss": 3, "aot_autograd_hit": 0, "aot_autograd_miss": 2}
WARM = {"inductor_hit": 3, "inductor_miss": 0, "aot_autograd_hit": 2, "aot_autograd_miss": 0}
PARTIAL = {"inductor_hit": 2, "inductor_miss": 1, "aot_autograd_hit": 0, "aot_autograd_miss": 0}
NONE = dict.fromkeys(COLD, 0)


@pytest.mark.parametrize("counters, state", [(COLD, "cold"), (WARM, "warm"),
                                             (PARTIAL, "partial"), (NONE, None), ({}, None),
                                             (None, None)])
def test_the_state_is_read_from_the_hit_and_miss_counters(counters, state):
    assert cache_state(counters) == state


def _entry(tmp_path, counters, filled: bool):
    cache = tmp_path / "cache"
    cache.mkdir(parents=True)
    if filled:
        (cache / "leftover").write_text("a graph compiled before")
    return compile_cache_entry(cache, folder_state(cache), {"cache": counters}
                               if counters is not None else None)


@pytest.fixture(autouse=True)
def _no_shared_cache(monkeypatch):
    monkeypatch.delenv(SHARED_CACHE_ENV, raising=False)
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)


def test_a_filled_folder_whose_graphs_all_missed_is_cold(tmp_path):
    """A repetition killed mid-compile left files; the next one still compiled everything."""
    entry = _entry(tmp_path, COLD, filled=True)
    assert (entry["state"], entry["state_from"], entry["folder"]) == ("cold", "counters",
                                                                      "filled")
    assert entry["shared_by"] == []


def test_a_shared_cache_that_held_other_cells_graphs_is_warm_and_says_it_is_shared(
        tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    entry = _entry(tmp_path, WARM, filled=True)
    assert entry["state"] == "warm"
    assert entry["shared_by"] == [SHARED_CACHE_ENV, "TRITON_CACHE_DIR"]
    assert _entry(tmp_path / "b", PARTIAL, filled=True)["state"] == "partial"


def test_a_process_that_counted_nothing_falls_back_to_the_folder(tmp_path):
    """A cell that failed before compiling anything: no counters to read."""
    empty = _entry(tmp_path / "a", None, filled=False)
    filled = _entry(tmp_path / "b", NONE, filled=True)
    assert (empty["state"], empty["state_from"]) == ("cold", "folder")
    assert (filled["state"], filled["state_from"]) == ("warm", "folder")
