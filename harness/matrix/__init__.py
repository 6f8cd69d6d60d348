"""Matrix: a suite file's tables (suite) and its cells' repetitions, run until each group's
stopping rule is met (matrix)."""
