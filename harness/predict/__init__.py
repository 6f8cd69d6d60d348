"""The predict scenario: batch inference over a dataset, timed like training steps.

A predict cell (``scenario = "predict"``) runs the seeded model (the weights' values do not
change the work a forward does) over ``warmup + steps`` batches of the workload's dataset, in
order, through its paradigm's own inference path: Lightning's ``trainer.predict``, an Ignite
evaluator ``Engine`` (``create_supervised_evaluator``), a plain ``torch.inference_mode()``
loop. A ``predict-<runtime>`` cell (paradigm ``plain``) first exports the model in eval mode
and then runs the artifact without any framework: TorchScript, ONNX Runtime on the cell's
device, or an ExportedProgram. Every path keeps every batch's predictions in host memory, as
``trainer.predict`` does by default: the copy from a GPU (``context.to_host``) happens inside
each batch's timed span, before the probe's batch end, in every path.

- ``data``: the prediction loader, shared by every path (the same batches in the same order);
- ``probe``: the batch probe: the training timer and memory tracker, per batch;
- ``plain``, ``lightning``, ``ignite``, ``artifacts``: one module per path, each
  ``predict(p: Prediction) -> list`` of outputs;
- ``cell``: what the worker runs, and the figures it records.
"""
