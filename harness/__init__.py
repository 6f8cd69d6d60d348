"""paradigm-bench harness: run one workload through plain PyTorch, Lightning and Ignite."""

from harness import torchvision_compat as _torchvision_compat

# before anything can import torchvision (Lightning's torchmetrics does): a CUDA torchvision
# wheel beside the CPU torch must import; see the module's docstring for what it does and when
_torchvision_compat.install()
