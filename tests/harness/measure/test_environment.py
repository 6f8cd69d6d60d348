from __future__ import annotations

from harness.measure.environment import REQUIRED, capture_host, missing_fields


def test_host_environment_has_every_required_field():
    env = capture_host()
    assert missing_fields(env) == []
    assert set(REQUIRED) <= set(env)
    assert env["packages"]["torch"] and env["packages"]["pytorch-lightning"]
    assert env["packages"]["pytorch-ignite"]
    assert "lightning" in env["packages"]  # the unified package, None where not installed
    assert env["cpu"] and env["cpu_count"] >= 1 and env["python"].count(".") == 2
    assert isinstance(env["git_commit"], str) and len(env["git_commit"]) == 40
    assert isinstance(env["git_dirty"], bool)
    assert isinstance(env["env"], dict) and isinstance(env["gpus"], list)


def test_relevant_variables_are_recorded(monkeypatch):
    monkeypatch.setenv("NCCL_DEBUG", "INFO")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    env = capture_host()["env"]
    assert env["NCCL_DEBUG"] == "INFO" and env["CUDA_VISIBLE_DEVICES"] == "0"
    assert "UNRELATED_SECRET" not in env
