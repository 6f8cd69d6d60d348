"""Give a forked child the memory state of a spawned process: every page the fork server had
resident, mapped in the child's page table and private to it.

A fork leaves two differences that a measurement would see. The page table of file mappings
that were never written (torch's library code and read-only data) is not copied: the child
finds those pages in the page cache but has not mapped them, so its RSS, and so its peak RSS,
would leave out what a spawned worker mapped while it imported torch. And anonymous memory
(the interpreter's heap: every module object torch's import made) is shared copy-on-write:
the child's first write to each page (a reference count, a garbage collection) costs a fault
and a copy that a spawned worker never pays, and that would land inside the timed framework
import. The server lists its resident pages once (``resident_pages``); each child maps the
file pages and breaks the sharing of the anonymous ones (``make_own``) before it starts:
``MADV_POPULATE_READ`` and ``MADV_POPULATE_WRITE`` (Linux 5.14), which fault the pages in
without touching their contents.

Where that cannot be done (``/proc/self/pagemap`` unreadable, a kernel without
``MADV_POPULATE_WRITE``) a forked child would carry those biases unannounced: the server checks
first (``unfit``) and the runner spawns instead; and each child counts the pages it made its
own and those it could not (``Owned``), which its record keeps.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
PRESENT, FILE_OR_SHARED = 1 << 63, 1 << 61  # /proc/PID/pagemap entry bits
MAPS, PAGEMAP = "/proc/self/maps", "/proc/self/pagemap"
SKIPPED = ("[stack]", "[vvar]", "[vdso]", "[vsyscall]", "[vvar_vclock]")
Runs = list[tuple[int, int]]


@dataclass
class ResidentPages:
    """Runs (start, end) of resident pages: file-backed, and private anonymous (writable)."""

    file: Runs = field(default_factory=list)
    anonymous: Runs = field(default_factory=list)
    problem: str | None = None  # why they could not be listed (then nothing is)


@dataclass
class Owned:
    """What ``make_own`` did: pages made this process's own, pages it could not, and why."""

    pages: int = 0
    failed: int = 0
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {"pages": self.pages, "failed": self.failed, "problem": self.problem}


def _runs(entries: memoryview, start: int, wanted: int, mask: int) -> Runs:
    page, out, run = mmap.PAGESIZE, [], None
    for i, entry in enumerate(entries):
        address = start + i * page
        if entry & mask == wanted:
            run = address if run is None else run
        elif run is not None:
            out.append((run, address))
            run = None
    if run is not None:
        out.append((run, start + len(entries) * page))
    return out


def resident_pages() -> ResidentPages:
    """This process's resident pages, from /proc/self/maps and pagemap (empty elsewhere)."""
    out = ResidentPages()
    try:
        maps = Path(MAPS).read_text().splitlines()
        pagemap = os.open(PAGEMAP, os.O_RDONLY)
    except OSError as exc:
        out.problem = f"cannot read the resident pages: {exc}"
        return out
    page = mmap.PAGESIZE
    try:
        for line in maps:
            fields = line.split()
            perms, name = fields[1], fields[5] if len(fields) > 5 else ""
            if not perms.startswith("r") or name in SKIPPED or name.startswith("/dev/"):
                continue  # unreadable, the live stack, the kernel's pages, device memory
            start, end = (int(x, 16) for x in fields[0].split("-"))
            entries = memoryview(os.pread(pagemap, (end - start) // page * 8,
                                          start // page * 8)).cast("Q")
            mask = PRESENT | FILE_OR_SHARED
            out.file += _runs(entries, start, PRESENT | FILE_OR_SHARED, mask)
            if "w" in perms and perms.endswith("p"):
                out.anonymous += _runs(entries, start, PRESENT, mask)
    finally:
        os.close(pagemap)
    return out


def _madvise() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


def unfit(pages: ResidentPages) -> str | None:
    """Why a forked child could not be given a spawned process's memory here, or None: the
    pages could not be listed, or this kernel lacks ``MADV_POPULATE_WRITE`` (before 5.14)."""
    if pages.problem is not None:
        return pages.problem
    probe = mmap.mmap(-1, mmap.PAGESIZE)
    view = ctypes.c_char.from_buffer(probe)
    try:
        failed = _madvise()(ctypes.addressof(view), mmap.PAGESIZE, MADV_POPULATE_WRITE) != 0
        error = ctypes.get_errno()
    finally:
        del view  # the mmap cannot close while a ctypes view exports it
        probe.close()
    return f"madvise(MADV_POPULATE_WRITE) failed: {os.strerror(error)}" if failed else None


def make_own(pages: ResidentPages) -> Owned:
    """Map ``pages.file`` and make ``pages.anonymous`` private, in this (forked) process;
    where the kernel lacks the populate advice, read one byte of each file page instead
    (anonymous pages have no such fallback: they count as failed)."""
    owned = Owned(problem=pages.problem)
    madvise, page = _madvise(), mmap.PAGESIZE
    for runs, advice in ((pages.file, MADV_POPULATE_READ),
                         (pages.anonymous, MADV_POPULATE_WRITE)):
        for start, end in runs:
            count = (end - start) // page
            if madvise(start, end - start, advice) == 0:
                owned.pages += count
                continue
            error = ctypes.get_errno()
            if advice == MADV_POPULATE_READ and error == errno.EINVAL:
                for address in range(start, end, page):  # a kernel before 5.14
                    ctypes.c_char.from_address(address).value  # noqa: B018  (a read)
                owned.pages += count
                continue
            owned.failed += count
            owned.problem = owned.problem or f"madvise({advice}): {os.strerror(error)}"
    return owned
