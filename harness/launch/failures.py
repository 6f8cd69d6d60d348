"""How a cell process's exception is recorded: ``classify`` maps it to a record status (out
of memory, a collective's timeout, unsupported, interrupted, or an error); the worker writes
that status with the exception's message and traceback tail, and whatever was measured before.

>>> classify(NotImplementedError("no meta kernel")).value
'unsupported'
"""

from __future__ import annotations

import torch

from harness.results import Status


def _is_collective_timeout(exc: BaseException) -> bool:
    """A process-group timeout: gloo and NCCL raise DistError / RuntimeError "timed out"."""
    dist_error = getattr(torch.distributed, "DistError", RuntimeError)
    text = str(exc).lower()
    return isinstance(exc, (dist_error, RuntimeError)) and (
        "timed out" in text or "timeout" in text
    )


def _no_cpp_compiler(exc: BaseException) -> bool:
    """Inductor found no C++ compiler mid-training (checked before training as well)."""
    from harness.training.compile import compiler_missing

    return compiler_missing(exc)


def classify(exc: BaseException) -> Status:
    """Map an exception to a record status."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return Status.OOM
    if _is_collective_timeout(exc):
        return Status.TIMEOUT
    if isinstance(exc, NotImplementedError) or _no_cpp_compiler(exc):
        return Status.UNSUPPORTED
    if isinstance(exc, KeyboardInterrupt):
        return Status.INTERRUPTED
    return Status.ERROR
