"""Every ``python -m harness serve`` command the serving documentation shows is one the
command line accepts (checked as the command checks it, without running it)."""

import re
import shlex
from pathlib import Path

import pytest

from harness.commands.arguments import build_parser
from harness.commands.serve import spec_from_args

DOC = Path(__file__).parents[3] / "docs" / "_incoming" / "i34.md"
COMMANDS = [" ".join(m.split()) for m in re.findall(
    r"python -m harness serve(?:[^\n`]|\\\n)*", DOC.read_text().replace("\\\n", " "))]


def test_the_page_documents_commands():
    assert len(COMMANDS) >= 3


@pytest.mark.parametrize("command", COMMANDS)
def test_a_documented_command_is_accepted(command):
    args = build_parser().parse_args(shlex.split(command)[3:])
    spec = spec_from_args(args)
    assert spec.rates == tuple(sorted(spec.rates)) and spec.slo_ms > 0
