"""Launch: cells into fresh processes (runner, worker), matrices of repetitions (matrix,
stopping), suite files, device checks."""
