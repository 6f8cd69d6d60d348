"""Storage URLs: the password hidden wherever a URL is shown, schemes checked up front."""

from __future__ import annotations

import pytest

from harness.search.storage import StorageError, check_scheme, redacted, scrubbed


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("postgresql+psycopg://bob:p%40ss@db/optuna", "postgresql+psycopg://bob:***@db/optuna"),
    ("postgresql://bob@db/optuna", "postgresql://bob@db/optuna"),
    ("/runs/hpo/optuna.journal", "/runs/hpo/optuna.journal"),
])
def test_a_url_is_shown_without_its_password(url, shown):
    assert redacted(url) == shown


def test_a_message_loses_the_password_in_either_spelling():
    url = "postgresql://bob:p%40ss@db/optuna"
    assert scrubbed("auth failed for p@ss (p%40ss)", url) == "auth failed for *** (***)"


def test_an_unknown_scheme_is_refused_in_one_line_without_the_password():
    with pytest.raises(StorageError, match="unknown storage scheme 'mongodb'") as exc:
        check_scheme("mongodb://me:hunter2@db/optuna")
    assert "hunter2" not in str(exc.value) and "\n" not in str(exc.value)
    check_scheme("rediss://h:1")  # known ones pass
