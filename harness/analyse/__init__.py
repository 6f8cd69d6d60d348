"""Analyse: records into figures (aggregate, analysis, stats, feature costs, speed-ups), the
stopping rule that ends a group's repetitions (stopping), and the terminal table."""
