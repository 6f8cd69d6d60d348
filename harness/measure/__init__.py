"""Trackers: small objects fed by the step probe, each returning a dataclass of raw samples."""
