"""Conveniences on top of the bare loop: which are on (the spec, ``harness.features``, in the
core and re-exported here), and the hand-written versions the plain loop uses, the checkpoint
formats and the metric-log readers that the three paradigms share for parity checks."""

from harness.features import FEATURE_FIELDS, FeatureError, Features, LogBackend

__all__ = ["FEATURE_FIELDS", "FeatureError", "Features", "LogBackend"]
