"""The serve scenario: each paradigm's model behind a real HTTP endpoint, measured open-loop at
the latency users promise (``python -m harness serve``; a suite's ``[[serve]]`` tables).

Like ``harness.search`` it starts its own processes: a server per inference path (FastAPI on
uvicorn, or LitServe) on 127.0.0.1 at a free port, and a load generator pinned to another CPU.

- ``spec``: what one serving comparison is (workload, paths, rates, SLO), checked before
  anything heavy imports; the optional dependencies (``pip install 'paradigm-bench[serve]'``);
- ``protocol``: the request and response of ``POST /predict`` (inputs in; prediction,
  confidence and the raw outputs out), the input checks and the body-size limit;
- ``prepare``: in the command's process: the model's weights, each paradigm's artifacts
  (``harness.export``'s calls), the request inputs and the in-process reference outputs;
- ``predictors``, ``app``, ``litserve_api``, ``server``: the server process;
- ``process``: a server started, waited for (``GET /health``), stopped and reaped;
- ``loadgen``: the open-loop generator process (seeded Poisson schedule, latency from the
  scheduled send time) and ``points``: what a point's requests add up to;
- ``sweep``: rates rising until the SLO breaks, repetitions, the generator's ceiling, records;
- ``command`` and ``suite``: the command line and suite tables.
"""
