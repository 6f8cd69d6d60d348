"""A forked child that runs ``make_own`` has a spawned process's memory state: every page its
parent had resident is mapped (the same RSS) and private to it (no copy-on-write left)."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys

import psutil
import pytest

from harness.launch import pages as pages_module
from harness.launch.pages import Owned, ResidentPages, make_own, resident_pages, unfit

MIB = 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/pagemap")
def test_a_forked_child_maps_and_owns_what_its_parent_had_resident():
    import torch  # noqa: F401  (library pages to map, as in the fork server)

    pages = resident_pages()
    assert pages.file and pages.anonymous
    parent_rss = psutil.Process().memory_info().rss
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report before and after, then leave without any teardown
        me = psutil.Process()
        before = me.memory_info().rss
        owned = make_own(pages)
        after = me.memory_full_info()
        os.write(write, json.dumps([before, after.rss, after.uss, owned.to_json()]).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    before, after, uss, owned = json.loads(os.read(read, 4096))
    os.close(read)
    anonymous = sum(end - start for start, end in pages.anonymous)
    assert before < parent_rss - 8 * MIB  # a fork leaves library pages unmapped
    assert abs(after - parent_rss) < 8 * MIB  # mapped again: the parent's RSS
    assert uss > 0.9 * anonymous  # the heap is the child's own now
    listed = sum(end - start for start, end in pages.file + pages.anonymous) // mmap.PAGESIZE
    assert owned == {"pages": listed, "failed": 0, "problem": None}


def _one_page() -> tuple[mmap.mmap, ctypes.c_char, ResidentPages]:
    region = mmap.mmap(-1, mmap.PAGESIZE)
    view = ctypes.c_char.from_buffer(region)
    start = ctypes.addressof(view)
    return region, view, ResidentPages(anonymous=[(start, start + mmap.PAGESIZE)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/pagemap")
def test_a_kernel_without_populate_write_is_said_and_counted(monkeypatch):
    """Before Linux 5.14 the advice is unknown (EINVAL): simulated with an unknown number."""
    region, view, pages = _one_page()
    monkeypatch.setattr(pages_module, "MADV_POPULATE_WRITE", 999)
    try:
        owned = make_own(pages)
        assert "MADV_POPULATE_WRITE" in unfit(ResidentPages())
    finally:
        del view
        region.close()
    assert (owned.pages, owned.failed, owned.complete) == (0, 1, False)
    assert "Invalid argument" in owned.problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/pagemap")
def test_an_unreadable_pagemap_is_said(monkeypatch, tmp_path):
    monkeypatch.setattr(pages_module, "PAGEMAP", str(tmp_path / "no-pagemap"))
    pages = resident_pages()
    assert not pages.file and not pages.anonymous
    assert "cannot read the resident pages" in unfit(pages)
    assert not make_own(pages).complete  # nothing failed, but nothing was listed either


def test_a_child_that_kept_shared_pages_does_not_claim_pages_mapped(monkeypatch, capsys):
    from harness.launch import forkserver, worker

    monkeypatch.setattr(worker, "LIFECYCLE", {})
    monkeypatch.setattr(worker, "PAGES", None)
    monkeypatch.setattr(forkserver, "make_own",
                        lambda pages: Owned(pages=10, failed=3, problem="madvise(23): EINVAL"))
    forkserver._own_pages(ResidentPages())
    assert "pages_mapped" not in worker.LIFECYCLE and "pages_incomplete" in worker.LIFECYCLE
    assert worker.PAGES == {"pages": 10, "failed": 3, "problem": "madvise(23): EINVAL"}
    assert "3 of 13 pages" in capsys.readouterr().err


def test_the_record_warns_when_pages_stayed_shared():
    from harness.launch.runner import _note_pages

    record: dict = {"warnings": []}
    _note_pages(record, [{"rank": 0, "pages": {"pages": 10, "failed": 3, "problem": "x"}}])
    assert record["pages"]["failed"] == 3
    assert "stayed shared" in record["warnings"][0]
    spawned: dict = {}
    _note_pages(spawned, [{"rank": 0}])
    assert spawned == {}
