"""Analyse: records into figures (aggregate, analysis, stats, feature costs, speed-ups) and
the terminal table."""
