"""Study specs: names that resume a study, groups that pair paradigms, seeds, bad input."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna", reason="needs Optuna: pip install '.[search]'")

from harness.config import Paradigm
from harness.search.spec import RESUME_SEED_STRIDE, SpecError, StudySpec
from tests.conftest import tiny_cell


def _spec(**changes) -> StudySpec:
    return StudySpec(tiny_cell("linear"), trials=6).replace(**changes)


def test_the_name_ignores_the_trial_count_and_storage_but_not_what_a_trial_is():
    spec = _spec()
    assert _spec(trials=60, storage="/elsewhere").name == spec.name  # more trials extend it
    assert _spec(sampler_seed=1).name != spec.name
    assert _spec(cell=spec.cell.replace(steps=24)).name != spec.name


def test_the_paradigms_of_one_comparison_share_a_group_and_worker_counts_a_family():
    plain = _spec()
    ignite = plain.replace(cell=plain.cell.replace(paradigm=Paradigm.IGNITE))
    two = plain.replace(workers=2)
    assert ignite.group == plain.group != two.group
    assert two.family == plain.family and ignite.name != plain.name


def _draw(sampler) -> float:
    return optuna.create_study(sampler=sampler).ask().suggest_float("x", 0.0, 1.0)


def test_one_worker_keeps_the_seed_and_others_and_a_resumed_study_move_it_on():
    spec = _spec(sampler="random", sampler_seed=3)

    def seeded(seed):
        return _draw(optuna.samplers.RandomSampler(seed=seed))

    assert _draw(spec.sampler_for(0)) == seeded(3)
    assert _draw(spec.sampler_for(1)) == seeded(4)
    assert _draw(spec.sampler_for(0, existing=5)) == seeded(3 + 5 * RESUME_SEED_STRIDE)


@pytest.mark.parametrize("changes, message", [
    ({"sampler": "grid"}, "unknown sampler 'grid'"),
    ({"pruner": "patient"}, "unknown pruner 'patient'"),
    ({"trials": 0}, "trials and workers must be > 0"),
])
def test_bad_settings_are_refused_with_the_valid_choices(changes, message):
    with pytest.raises(SpecError, match=message):
        _spec(**changes)


def test_a_spec_survives_json():
    spec = _spec(pruner="halving", workers=2)
    assert StudySpec.from_dict(spec.to_dict()) == spec
