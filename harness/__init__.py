"""paradigm-bench harness: run one workload through plain PyTorch, Lightning and Ignite."""
