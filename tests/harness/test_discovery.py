"""Workload discovery's view of a workload's libraries: found without importing them, and a
missing one turned into an `unsupported` cell with the install command."""

from __future__ import annotations

import pytest

from harness.discovery import MissingLibrary, import_requirements, missing_libraries
from harness.launch.failures import classify
from harness.results import Status


class NeedsAbsentLibrary:
    name = "needs-absent"
    requires = {"no_such_library_pb": "paradigm-bench[absent]", "json": "json"}


def test_a_missing_library_names_itself_and_its_install_command():
    reason = missing_libraries("needs-absent", NeedsAbsentLibrary.requires)
    assert reason == ("workload 'needs-absent' needs no_such_library_pb, which is not "
                      "installed: pip install 'paradigm-bench[absent]'")
    assert missing_libraries("fine", {"json": "json"}) is None


def test_a_missing_library_makes_the_cell_unsupported():
    with pytest.raises(MissingLibrary) as caught:
        import_requirements(NeedsAbsentLibrary)  # type: ignore[arg-type]
    assert classify(caught.value) is Status.UNSUPPORTED
    assert "pip install 'paradigm-bench[absent]'" in str(caught.value)
