"""The export scenario: after training, each paradigm's model exported the way its documentation
says, every artifact loaded and run on the same inputs, and held against the eager model.

- ``formats``: the formats, each paradigm's documented export call for each, the tolerances,
  and the optional ONNX dependencies (``pip install 'paradigm-bench[export]'``);
- ``runtimes``: an artifact loaded and run: ``torch.jit.load``, an ONNX Runtime session on the
  artifact's device, ``torch.export.load`` (also what ``harness.predict`` times);
- ``behaviour``: which mode an artifact carries (BatchNorm's statistics, dropout), found by
  holding its outputs against the eager model in each mode under one seed;
- ``cell``: the export cell the worker runs (``scenario = "export"``): train with a checkpoint
  at the last step, then export from the trained object as the framework left it and from the
  checkpoint loaded into a plain ``nn.Module``, format by format.
"""
