"""The study figures on hand-made studies (so that every expected number is exact)."""

from __future__ import annotations

import io

from harness.search import analysis as an


def trial(number: int, wall: float, lr: float, state: str = "COMPLETE", worker: int = 0,
          **extra) -> dict:
    return {"number": number, "state": state, "interrupted": False, "params": {"lr": lr},
            "value": 0.5, "worker": worker, "reports": [],
            "time": {"wall": wall, "construction": wall / 2, "training": wall / 2,
                     "validation": 0.0, "teardown": 0.0, "bookkeeping": 0.0}, **extra}


def study(paradigm: str, trials: list[dict], workers: int = 1, **extra) -> dict:
    return {"study": f"s-{paradigm}", "group": "g", "paradigm": paradigm, "trials": trials,
            "spec": {"workers": workers, "trials": len(trials),
                     "cell": {"device": "cpu", "precision": "fp32"}},
            "sessions": [{"session": "a", "wall_s": 10.0}], "processes": [], **extra}


def test_two_workers_compare_completed_trials_unpaired_and_never_print_nan():
    """Each worker's sampler draws its own parameters: no trial number pairs, so the summary
    once read "+nan ms (n too small, n=0)"."""
    plain = study("plain", [trial(i, 0.10 + i / 100, lr=i, worker=i % 2) for i in range(8)],
                  workers=2)
    other = study("ignite", [trial(i, 0.30 + i / 100, lr=10 + i, worker=i % 2)
                             for i in range(8)], workers=2)
    ov = an.overhead_vs(other, plain)
    assert not ov.paired and ov.n == 8 and abs(ov.seconds - 0.2) < 1e-9
    out = io.StringIO()
    an.print_summary([plain, other], file=out)
    assert "nan" not in out.getvalue() and "+200 ms" in out.getvalue()
    assert "unpaired" in out.getvalue()


def test_no_comparable_trial_reads_as_such_not_nan():
    plain = study("plain", [trial(0, 0.1, lr=0, state="PRUNED")], workers=2)
    other = study("ignite", [trial(0, 0.1, lr=1, state="PRUNED")], workers=2)
    out = io.StringIO()
    an.print_summary([plain, other], file=out)
    assert "nan" not in out.getvalue() and "no comparable trials" in out.getvalue()
