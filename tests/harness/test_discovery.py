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


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "bert-base", "gpt2", "linear", "mlp",
                                  "cnn", "gpt", "rnn", "tabular"])
@pytest.mark.parametrize("size", ["tiny", "small"])
def test_every_presets_batch_fits_its_dataset(name, size):
    from harness.discovery import batch_misfit, resolve

    cls = resolve(name)
    if size not in cls.sizes:
        pytest.skip(f"{name} has no {size} preset")
    assert cls.from_size(size).train_samples() is not None
    assert batch_misfit(name, size, cls.batch_size_for(size), 1) is None


def test_a_batch_too_large_names_the_largest_that_fits():
    from harness.discovery import batch_misfit

    assert batch_misfit("resnet18", "tiny", 256, 1) == (
        "resnet18 at size 'tiny' has 64 training samples, 64 per rank over 1: fewer than one "
        "batch of 256; the largest batch that fits is 64 (--batch-size 64)")
    assert batch_misfit("resnet18", "tiny", 8, 4) is None
    assert "no batch fits" in batch_misfit("resnet18", "tiny", 8, 128)
