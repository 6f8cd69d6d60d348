"""The search space: the workload's own hook, or a log-uniform scale of every param group's
learning rate, applied where all three paradigms build their optimizer."""

from __future__ import annotations

import optuna
import pytest
import torch

from harness.precision import UnsupportedConfig
from harness.search.space import LR_SCALE, LR_SCALE_RANGE, sample
from workloads.linear import Linear
from workloads.mlp import MLP


class TwoGroups(Linear):
    name = "two-groups"

    def build_optimizer(self, params):
        params = list(params)
        return torch.optim.SGD([{"params": params[:1], "lr": 0.3}, {"params": params[1:]}],
                               lr=0.1)


def _trial(seed: int = 0) -> optuna.Trial:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()


def test_default_space_scales_every_param_group_of_the_built_optimizer():
    workload = TwoGroups.from_size("tiny")
    params = sample(workload, _trial())
    scale = params[LR_SCALE]
    assert list(params) == [LR_SCALE] and LR_SCALE_RANGE[0] <= scale <= LR_SCALE_RANGE[1]
    optimizer = workload.build_optimizer(workload.build_model().parameters())
    assert [g["lr"] for g in optimizer.param_groups] == [0.3 * scale, 0.1 * scale]


def test_a_workload_with_its_own_space_is_asked_and_not_scaled():
    workload = MLP.from_size("tiny")
    trial = _trial()
    params = sample(workload, trial)
    assert set(params) == {"lr", "weight_decay"} == set(trial.params)
    group = workload.build_optimizer(workload.build_model().parameters()).param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (params["lr"], params["weight_decay"])


def test_an_optimizer_without_a_learning_rate_is_unsupported():
    class NoRate(Linear):
        name = "no-rate"

        def build_optimizer(self, params):
            optimizer = torch.optim.SGD(params, lr=0.1)
            del optimizer.param_groups[0]["lr"]
            return optimizer

    workload = NoRate.from_size("tiny")
    sample(workload, _trial())
    with pytest.raises(UnsupportedConfig, match="search_space"):
        workload.build_optimizer(workload.build_model().parameters())
