"""The hyper-parameter search scenario: one Optuna study per paradigm, measured.

A search pays a paradigm's start-up and set-up once per trial, so this is where set-up cost
turns into hours. ``python -m harness hpo`` (``harness.commands.hpo``) runs, per paradigm, a
study whose trials are short training runs through the benchmark's own adapters inside the
study's process (``trial.py``), pruned through each paradigm's own Optuna integration
(``pruning.py``), over the workload's search space or a default one (``space.py``), in one
or several worker processes sharing a storage (``worker.py``, ``runner.py``,
``storage.py``). ``clock.py`` splits each trial's time, ``results.py`` keeps the studies,
``analysis.py`` turns them into figures; ``reports/search.py`` renders the page.
"""
