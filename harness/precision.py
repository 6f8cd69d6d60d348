"""One mixed-precision policy for all three paradigms (fairness rule 7).

The autocast region is always the workload's ``loss`` call (forward + loss), the dtype is the
same, and fp16 always uses a GradScaler with torch's default settings, which are also what
Lightning's ``16-mixed`` plugin and Ignite's ``scaler=True`` create.

The weight-cast cache is off in all three, because Lightning's MixedPrecision plugin turns it
off (``torch.autocast(..., cache_enabled=False)``) and a Lightning user cannot change that
without writing a plugin. It is not a detail: with the cache, a weight used several times in
one forward (a recurrent cell stepped over time, tied embeddings) is cast once and the
gradients of all its uses are summed in the low-precision dtype before the cast back; without
it every use casts anew and the sum happens in fp32. The two train measurably differently
(``tests/harness/training/test_parity.py`` shows it on the ``rnn`` workload) and the uncached
one casts more often, so the shared policy is Lightning's: plain and Ignite pass the same flag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from harness.config import Precision

LIGHTNING_PRECISION = {
    Precision.FP32: "32-true",
    Precision.BF16_MIXED: "bf16-mixed",
    Precision.FP16_MIXED: "16-mixed",
}


AUTOCAST_CACHE = False  # Lightning's MixedPrecision plugin setting; see the module docstring


class UnsupportedConfig(NotImplementedError):
    """This paradigm cannot run this config faithfully (recorded as status ``unsupported``)."""


@dataclass(frozen=True)
class AmpPolicy:
    precision: Precision
    device_type: str  # "cpu" or "cuda"

    @property
    def dtype(self) -> torch.dtype | None:
        return {Precision.BF16_MIXED: torch.bfloat16, Precision.FP16_MIXED: torch.float16}.get(
            self.precision
        )

    @property
    def uses_scaler(self) -> bool:
        return self.precision is Precision.FP16_MIXED

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """The autocast region around forward + loss; a no-op in fp32."""
        if self.dtype is None:
            yield
        else:
            with torch.autocast(device_type=self.device_type, dtype=self.dtype,
                                cache_enabled=AUTOCAST_CACHE):
                yield

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A GradScaler with torch's defaults for fp16, else None."""
        return torch.amp.GradScaler(self.device_type) if self.uses_scaler else None
