"""Render benchmark runs as self-contained HTML reports."""
