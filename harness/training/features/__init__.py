"""Conveniences on top of the bare loop: which are on (``config``), and the hand-written
versions the plain loop uses, the checkpoint formats and the metric-log readers that the three
paradigms share for parity checks."""

from harness.training.features.config import FEATURE_FIELDS, FeatureError, Features, LogBackend

__all__ = ["FEATURE_FIELDS", "FeatureError", "Features", "LogBackend"]
