"""Suite files: which cells to run, in TOML.

A suite has a name, a number of repetitions, ``[defaults]`` and one or more ``[[matrix]]`` tables.
Each matrix table is merged over the defaults; every list-valued setting in it is expanded as a
product (paradigms innermost, so the paradigms of one config run back to back). ``features`` is a
table of feature settings (``harness.training.features``) or a list of them, one cell per table
(``{}`` is the bare loop). ``compile`` lists torch.compile modes (``"none"`` is eager) and
``compile_style`` names the compiled region (``harness.training.compile``; an eager cell has
none, so it is the same cell whatever the style). A matrix table (or ``[defaults]``) may set
how its cells repeat: ``repetitions`` (the most), ``until_ci`` (stop a cell group once every
overhead's interval is within this many percent of the plain step time; intervals at the
per-look level that keeps 95% over all the looks, ``harness.analyse.stopping``),
``min_repetitions``, ``attribution`` (one extra profiling repetition per cell, kept out of
the timing), ``cold_repetitions`` (how many leading repetitions pay the framework's import and
give the start-up figures; the rest fork from a server that imported the paradigm already;
default: all), ``until_excess`` (lever 4: after the planned rounds, a paradigm whose
framework-time excess is a sign with an interval wider than this many percent of it runs
further rounds, paired with the plain loop, up to ``most_repetitions``, default twice
``repetitions``, or the budget; ``harness.analyse.stopping.Extension``), ``optional = true``
(a budget drops the whole table, named in the report, before it cuts any table below the
repetitions its interval needs) and ``priority`` (an
integer, default 0): under a ``budget`` (top-level, minutes;
``--budget`` overrides it, ``--rigorous`` lifts it) the tables of lowest priority lose
repetitions first (``harness.plan.plan``). ``threads = "auto"`` gives each rank its
share of the cores (cores // world size). ``scenario`` is an axis too: ``train`` (the default),
``export`` or the ``predict`` scenarios (``harness.export``, ``harness.predict``). Example::

    name = "smoke"
    repetitions = 2

    [defaults]
    size = "tiny"
    steps = 20
    paradigm = ["plain", "lightning", "ignite"]

    [[matrix]]
    workload = ["linear", "mlp"]
    precision = ["fp32", "bf16-mixed"]

    [[matrix]]
    workload = "mlp"
    features = [{}, {val_every = 10}, {ckpt_every = 10}]
    repetitions = 20
    until_ci = 5

``[[hpo]]`` tables add hyper-parameter studies, run after the cells (``harness.search.suite``);
``[[serve]]`` tables add serving comparisons, run after those (``harness.serve.suite``).
"""

from __future__ import annotations

import itertools
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.analyse.stopping import Extension, Plan
from harness.config import NAME_PATTERN, CellConfig, ConfigError
from harness.discovery import default_batch_size
from harness.plan.plan import Table

# Expanded in this order; the last varies fastest.
AXES = ["workload", "size", "batch_size", "world_size", "data", "profile", "features", "phases",
        "precision", "compile", "compile_style", "scenario", "paradigm"]
DEFAULT_PARADIGMS = ["plain", "lightning", "ignite"]
PLAN_KEYS = {"repetitions", "until_ci", "min_repetitions", "attribution", "cold_repetitions",
             "until_excess", "most_repetitions"}
TOP_LEVEL_KEYS = {"name", "description", "repetitions", "budget", "defaults", "matrix", "hpo",
                  "serve"}


class SuiteError(ValueError):
    """An unreadable or invalid suite file; the message says where."""


@dataclass(frozen=True)
class Suite:
    name: str
    plans: dict[CellConfig, Plan]  # per cell: a matrix table may ask for more, or adaptive
    description: str = ""
    studies: list[Any] = field(default_factory=list)  # harness.search.spec.StudySpec
    tables: dict[CellConfig, Table] = field(default_factory=dict)  # where each plan came from
    budget_min: float | None = None  # the suite's ``budget`` (minutes), if it sets one
    serving: list[Any] = field(default_factory=list)  # harness.serve.spec.ServeSpec

    @property
    def cells(self) -> list[CellConfig]:
        return list(self.plans)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _expand(entry: dict[str, Any], cores: int) -> list[CellConfig]:
    entry = {"paradigm": DEFAULT_PARADIGMS, **entry}
    axes = [a for a in AXES if a in entry]
    fixed = {k: v for k, v in entry.items() if k not in axes}
    cells = []
    for values in itertools.product(*(_as_list(entry[a]) for a in axes)):
        settings = {**fixed, **dict(zip(axes, values))}
        if settings.get("compile", "none") == "none":
            settings.pop("compile_style", None)  # no region without a compile
        if settings.get("threads", "auto") == "auto":
            settings["threads"] = max(1, cores // settings.get("world_size", 1))
        if "batch_size" not in settings:
            settings["batch_size"] = default_batch_size(settings["workload"],
                                                        settings.get("size", "default"))
        if "timeout" in settings:
            settings["timeout_s"] = settings.pop("timeout")
        cells.append(CellConfig.from_dict(settings))
    return cells


def load_suite(
    path: Path,
    *,
    workloads: list[str] | None = None,
    paradigms: list[str] | None = None,
    repetitions: int | None = None,
    device: str | None = None,
) -> Suite:
    """Read and expand a suite file; the keyword filters narrow or override it."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path} is not valid TOML: {exc}") from None
    unknown = set(data) - TOP_LEVEL_KEYS
    if unknown:
        raise SuiteError(f"{path}: unknown top-level keys {sorted(unknown)}")
    name = str(data.get("name", Path(path).stem))
    if not NAME_PATTERN.match(name):
        raise SuiteError(f"{path}: suite name {name!r} must match [A-Za-z0-9_.-]+")
    reps = repetitions if repetitions is not None else data.get("repetitions", 3)
    if not isinstance(reps, int) or reps <= 0:
        raise SuiteError(f"{path}: repetitions must be a positive integer, got {reps!r}")
    if not data.get("matrix"):
        raise SuiteError(f"{path}: no [[matrix]] tables")
    budget = _budget(path, data.get("budget"))
    cores = os.cpu_count() or 1
    plans: dict[CellConfig, Plan] = {}  # insertion-ordered; a cell listed twice runs once
    tables: dict[CellConfig, Table] = {}
    for i, table in enumerate(data["matrix"]):
        entry = {**data.get("defaults", {}), "repetitions": reps, **table}
        if device:
            entry["device"] = device
        try:
            settings = {k: entry.pop(k) for k in PLAN_KEYS & set(entry)}
            table_plan = _plan(settings, repetitions)
            origin = _table(i + 1, entry.pop("priority", 0), settings, repetitions,
                            entry.pop("optional", False))
            for cell in _expand(entry, cores):
                plans[cell] = _merge(plans.get(cell), table_plan)
                # a cell of two tables is cut as the one that ranks it higher
                if cell not in tables or origin.priority > tables[cell].priority:
                    tables[cell] = origin
        except (ConfigError, LookupError, TypeError, ValueError) as exc:
            raise SuiteError(f"{path}: [[matrix]] #{i + 1}: {exc}") from None
    plans = {c: p for c, p in plans.items()
             if (not workloads or c.workload in workloads)
             and (not paradigms or c.paradigm.value in paradigms)}
    if not plans:
        raise SuiteError(f"{path}: no cells left after filtering")
    return Suite(name, plans, str(data.get("description", "")),
                 _studies(path, data.get("hpo") or [], workloads, paradigms, device),
                 {c: tables[c] for c in plans}, budget,
                 _serving(path, data.get("serve") or [], workloads, paradigms, device))


def _budget(path: Path, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SuiteError(f"{path}: budget must be a positive number of minutes, got {value!r}")
    return float(value)


def _table(index: int, priority: Any, settings: dict[str, Any], override: int | None,
           optional: Any = False) -> Table:
    """A table's place in a budget's cuts: its priority, the ``min_repetitions`` it sets
    (a command-line count overrides the table's plan, its minimum with it), and whether a
    budget may drop it whole (``optional``)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"priority must be an integer, got {priority!r}")
    if not isinstance(optional, bool):
        raise ValueError(f"optional must be true or false, got {optional!r}")
    floor = settings.get("min_repetitions")
    return Table(index, priority, None if override or floor is None else int(floor), optional)


def _studies(path: Path, tables: list[dict[str, Any]], workloads: list[str] | None,
             paradigms: list[str] | None, device: str | None) -> list[Any]:
    if not tables:
        return []
    from harness.search.spec import SpecError
    from harness.search.suite import studies_from_tables

    try:
        studies = studies_from_tables(tables, device)
    except SpecError as exc:
        raise SuiteError(f"{path}: {exc}") from None
    return [s for s in studies if (not workloads or s.cell.workload in workloads)
            and (not paradigms or s.cell.paradigm.value in paradigms)]


def _serving(path: Path, tables: list[dict[str, Any]], workloads: list[str] | None,
             paradigms: list[str] | None, device: str | None) -> list[Any]:
    """The ``[[serve]]`` comparisons, narrowed like the cells (a paradigm filter keeps only
    those paradigms in each)."""
    if not tables:
        return []
    from harness.serve.spec import SpecError
    from harness.serve.suite import specs_from_tables

    try:
        specs = specs_from_tables(tables, device)
        if paradigms:
            specs = [replace(s, paradigms=tuple(p for p in s.paradigms
                                                            if p in paradigms))
                     for s in specs if set(s.paradigms) & set(paradigms)]
    except SpecError as exc:
        raise SuiteError(f"{path}: {exc}") from None
    return [s for s in specs if not workloads or s.workload in workloads]


def _plan(settings: dict[str, Any], override: int | None) -> Plan:
    """A table's repetition plan; a command-line count overrides it (and its adaptive stop)."""
    reps = settings.get("repetitions")
    if not isinstance(reps, int) or isinstance(reps, bool) or reps <= 0:
        raise ValueError(f"repetitions must be a positive integer, got {reps!r}")
    cold = settings.get("cold_repetitions")
    if cold is not None and (isinstance(cold, bool) or not isinstance(cold, int) or cold < 0):
        raise ValueError(f"cold_repetitions must be a non-negative integer, got {cold!r}")
    if override:
        return Plan(override, attribution=bool(settings.get("attribution", False)),
                    cold_repetitions=cold)
    return Plan(reps, until_ci_pct=settings.get("until_ci"),
                min_repetitions=int(settings.get("min_repetitions", Plan(1).min_repetitions)),
                attribution=bool(settings.get("attribution", False)), cold_repetitions=cold,
                extension=_extension(settings, reps))


def _extension(settings: dict[str, Any], repetitions: int) -> Extension | None:
    """``until_excess`` (percent) and ``most_repetitions``: lever 4's further rounds."""
    target, most = settings.get("until_excess"), settings.get("most_repetitions")
    if target is None:
        if most is not None:
            raise ValueError("most_repetitions needs until_excess (the rule that uses it)")
        return None
    if isinstance(target, bool) or not isinstance(target, int | float):
        raise ValueError(f"until_excess must be a number (percent), got {target!r}")
    if most is None:
        most = 2 * repetitions
    if isinstance(most, bool) or not isinstance(most, int):
        raise ValueError(f"most_repetitions must be an integer, got {most!r}")
    return Extension(float(target), most)


def _merge(old: Plan | None, new: Plan) -> Plan:
    """A cell listed by two tables runs once, with the larger plan."""
    if old is None:
        return new
    return Plan(max(old.repetitions, new.repetitions),
                until_ci_pct=old.until_ci_pct if new.until_ci_pct is None else new.until_ci_pct,
                min_repetitions=max(old.min_repetitions, new.min_repetitions),
                attribution=old.attribution or new.attribution,
                cold_repetitions=_most_cold(old.cold_repetitions, new.cold_repetitions),
                extension=new.extension or old.extension)


def _most_cold(a: int | None, b: int | None) -> int | None:
    """The larger count of cold repetitions (None: all of them)."""
    return None if a is None or b is None else max(a, b)
