"""A forked child that runs ``make_own`` has a spawned process's memory state: every page its
parent had resident is mapped (the same RSS) and private to it (no copy-on-write left)."""

from __future__ import annotations

import json
import os
import sys

import psutil
import pytest

from harness.launch.pages import make_own, resident_pages

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
        make_own(pages)
        after = me.memory_full_info()
        os.write(write, json.dumps([before, after.rss, after.uss]).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    before, after, uss = json.loads(os.read(read, 4096))
    os.close(read)
    anonymous = sum(end - start for start, end in pages.anonymous)
    assert before < parent_rss - 8 * MIB  # a fork leaves library pages unmapped
    assert abs(after - parent_rss) < 8 * MIB  # mapped again: the parent's RSS
    assert uss > 0.9 * anonymous  # the heap is the child's own now
