"""Every command the README and the manual show is one the tests check, so a renamed session,
option or module fails here instead of in a reader's shell. Nothing is run: commands are parsed.

Fenced shell blocks (``bash``, ``sh``, ``shell``, ``console``), each line and each part of an
``&&`` chain:
- ``nox [-R] -s NAME [-- ARGS]``: NAME is a session of noxfile.py, and the session, called with
  ARGS on a stand-in session that records instead of running, hands the harness (and the
  benchmark scripts) command lines that their own argument parsers accept;
- ``python -m harness ...``: parses with the harness's parser (``harness.cli.build_parser``);
- ``python benchmarks/SCRIPT.py ...``: parses with that script's ``build_parser``;
- ``pip install ...``: the extras named exist in pyproject.toml, a ``-c`` file exists, and a
  package pinned by name is one the project depends on;
- ``pytest -m MARK``: MARK is declared in pyproject.toml.
Any other command fails the test until a check for it is added here.

In prose (inline code): ``nox -s NAME`` names a session, ``python -m harness SUB`` a
subcommand, ``python -m MODULE`` an importable module, ``python FILE.py`` a file that exists.
Inline spans are checked by name only, since prose writes placeholders (``[--repetitions N]``).

noxfile.py is read with a stand-in ``nox`` module (nox need not be installed where the tests
run): it records each ``@nox.session`` under its ``name=`` or the function's name, and a
parametrized session also under ``name(id)``, which is how nox names them.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
import tomllib
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs" / "pages").glob("*.md"))]
SHELL_FENCE = re.compile(r"^```(?:bash|sh|shell|console)[^\n]*\n(.*?)^```", re.M | re.S)
ANY_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])
MARKERS = {m.split(":")[0].strip() for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]}
DEPENDENCIES = {re.split(r"[<>=\[ ]", d)[0] for d in PYPROJECT["project"]["dependencies"]}


class SessionError(Exception):
    """A nox session stopped with session.error: what a user would see fail."""


# --- the documents -------------------------------------------------------------------------

def fenced_commands(text: str) -> Iterator[list[str]]:
    """Each command of each fenced shell block, as shell words, comments dropped."""
    for block in SHELL_FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                yield words[:cut]
                words = words[cut + 1:]


def inline_spans(text: str) -> list[str]:
    """Inline code outside fenced blocks."""
    return INLINE_CODE.findall(ANY_FENCE.sub("", text))


def documented() -> list[tuple[str, list[str]]]:
    return [(f"{doc.relative_to(ROOT)}: {shlex.join(words)}", words)
            for doc in DOCUMENTS for words in fenced_commands(doc.read_text())]


# --- noxfile.py, read through a stand-in nox -----------------------------------------------

def _stand_in_nox(sessions: dict[str, Callable[..., Any]]) -> types.ModuleType:
    nox = types.ModuleType("nox")

    def session(func: Callable[..., Any] | None = None, *, name: str | None = None,
                **_: Any) -> Any:
        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            sessions[name or f.__name__] = f
            for values, param_id in getattr(f, "parametrized", []):
                sessions[f"{name or f.__name__}({param_id})"] = (
                    lambda s, f=f, values=values: f(s, *values))
            return f
        return register(func) if func is not None else register

    def parametrize(names: Any, values: list[Any], ids: list[str]) -> Any:
        def mark(f: Callable[..., Any]) -> Callable[..., Any]:
            f.parametrized = list(zip(values, ids))  # type: ignore[attr-defined]
            return f
        return mark

    nox.session, nox.parametrize = session, parametrize  # type: ignore[attr-defined]
    nox.options = types.SimpleNamespace()  # type: ignore[attr-defined]
    nox.Session = object  # type: ignore[attr-defined]
    return nox


@pytest.fixture(scope="module")
def noxfile() -> tuple[types.ModuleType, dict[str, Callable[..., Any]]]:
    sessions: dict[str, Callable[..., Any]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "nox", _stand_in_nox(sessions))
        patch.chdir(ROOT)  # the noxfile reads benchmarks/versions.toml as it loads
        spec = importlib.util.spec_from_file_location("documented_noxfile", ROOT / "noxfile.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module, sessions


class RecordingSession:
    """What a nox session gets, recording the commands it would run instead of running them."""

    def __init__(self, posargs: list[str], tmp: Path) -> None:
        self.posargs, self.tmp = posargs, tmp
        self.commands: list[list[str]] = []
        self.notified: list[str] = []

    def install(self, *args: str, **kwargs: Any) -> None:
        pass

    def run(self, *args: str, silent: bool = False, **kwargs: Any) -> str | None:
        self.commands.append([str(a) for a in args])
        return "2.13.0+cu130 True" if silent else None  # the GPU sessions' torch check

    def notify(self, target: str, posargs: list[str] | None = None) -> None:
        self.notified.append(target)

    def error(self, *args: Any) -> None:
        raise SessionError(" ".join(map(str, args)))

    def create_tmp(self) -> str:
        return str(self.tmp)


# --- the checks ----------------------------------------------------------------------------

def _harness_parses(args: list[str]) -> None:
    from harness.cli import build_parser

    try:
        build_parser().parse_args(args)
    except SystemExit as exit_:  # argparse: 0 for --help, 2 for what it refuses
        assert exit_.code == 0, f"python -m harness {shlex.join(args)}: refused by its parser"


def _script_parses(script: str, args: list[str]) -> None:
    path = ROOT / script
    assert path.is_file(), f"{script}: no such file"
    spec = importlib.util.spec_from_file_location(f"documented_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.build_parser().parse_args(args)
    except SystemExit as exit_:
        assert exit_.code == 0, f"python {script} {shlex.join(args)}: refused by its parser"


def _pip_install(args: list[str]) -> None:
    words = iter(args)
    for word in words:
        if word == "-c":
            assert (ROOT / next(words)).is_file(), "pip -c names a file that does not exist"
        elif word.startswith("-"):
            continue
        elif (extras := re.fullmatch(r"(?:\.|paradigm-bench)\[([\w,-]+)\]", word)):
            unknown = set(extras.group(1).split(",")) - EXTRAS
            assert not unknown, f"pip install {word}: no extra {unknown} in pyproject.toml"
        else:
            name = re.split(r"[<>=]", word)[0]
            assert word == "." or name in DEPENDENCIES | {"nox"}, f"pip install {word}?"


def _python(args: list[str]) -> None:
    if args[:2] == ["-m", "harness"]:
        _harness_parses(args[2:])
    elif args and args[0].startswith("benchmarks/") and args[0].endswith(".py"):
        _script_parses(args[0], args[1:])
    else:
        pytest.fail(f"python {shlex.join(args)}: no check for this command")


def _nox(args: list[str], noxfile: Any, tmp: Path) -> None:
    module, sessions = noxfile
    posargs = args[args.index("--") + 1:] if "--" in args else []
    options = args[:args.index("--")] if "--" in args else args
    assert "-s" in options, f"nox {shlex.join(args)}: which session?"
    name = options[options.index("-s") + 1]
    assert name in sessions, f"nox -s {name}: no such session in noxfile.py"
    if name == "versions-report" and posargs:  # it looks for run folders before it runs
        (tmp / posargs[0] / "lightning-2.6.6" / "cells").mkdir(parents=True, exist_ok=True)
    session = RecordingSession(list(posargs), tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "_cuda_present", lambda: True)  # the GPU sessions' own check
        patch.chdir(tmp)
        sessions[name](session)
    for target in session.notified:
        assert target in sessions, f"nox -s {name} notifies {target}, which does not exist"
    for command in session.commands:  # its other commands (pytest, mkdocs, python -c) are its own
        if command[:3] == ["python", "-m", "harness"] or \
                (command[0] == "python" and command[1].startswith("benchmarks/")):
            _python(command[1:])


def check(words: list[str], noxfile: Any, tmp: Path) -> None:
    program, args = words[0], words[1:]
    if program == "nox":
        _nox(args, noxfile, tmp)
    elif program == "python":
        _python(args)
    elif program == "pip" or program.endswith("/bin/pip"):
        assert args[0] == "install", f"pip {args[0]}?"
        _pip_install(args[1:])
    elif program == "pytest":
        marks = [args[i + 1] for i, a in enumerate(args) if a == "-m"]
        assert all(m in MARKERS for m in marks), f"pytest -m {marks}: undeclared marker"
    else:
        pytest.fail(f"{shlex.join(words)}: no check for this command; add one here")


@pytest.mark.parametrize(("where", "words"), documented(), ids=[w for w, _ in documented()])
def test_each_documented_command_is_one_the_project_accepts(where, words, noxfile, tmp_path):
    check(words, noxfile, tmp_path)


def test_commands_named_in_prose_exist(noxfile):
    from harness.cli import build_parser

    _, sessions = noxfile
    subparsers = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    wrong = []
    for doc in DOCUMENTS:
        for span in inline_spans(doc.read_text()):
            words = span.split()
            if (match := re.match(r"nox (?:-R )?-s \"?([^\s\"]+)\"?", span)) and \
                    match.group(1) not in sessions:
                wrong.append(f"{doc.name}: `{span}`: no such session")
            elif words[:3] == ["python", "-m", "harness"] and len(words) > 3 and \
                    words[3] not in {*subparsers, "...", "--help"}:
                wrong.append(f"{doc.name}: `{span}`: no such subcommand")
            elif len(words) > 2 and words[:2] == ["python", "-m"] and \
                    words[2].startswith("harness.") and \
                    importlib.util.find_spec(words[2]) is None:
                wrong.append(f"{doc.name}: `{span}`: no such module")
            elif len(words) > 1 and words[0] == "python" and words[1].endswith(".py") and \
                    not (ROOT / words[1]).is_file():
                wrong.append(f"{doc.name}: `{span}`: no such file")
    assert not wrong, "\n".join(wrong)


def test_the_documents_show_commands_at_all():
    """The extraction itself: the README's set-up commands are found, chains split."""
    commands = [shlex.join(words) for _, words in documented()]
    assert "nox -s tests" in commands and "nox -s bench-cpu" in commands
    assert "pip install nox" in commands
    assert len(commands) > 40


def _anchor(heading: str) -> str:
    """A heading's anchor as MkDocs' toc extension writes it (Python-Markdown's slugify)."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())


def test_the_readme_links_reach_manual_pages_and_their_headings():
    """The README sits outside the manual's build, so its links are checked here."""
    readme = (ROOT / "README.md").read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if "://" in target:
            continue
        path, _, anchor = target.partition("#")
        page = ROOT / path
        if not page.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in {_anchor(h) for h in re.findall(
                r"^#+ (.+)$", ANY_FENCE.sub("", page.read_text()), re.M)}:
            broken.append(f"{target}: no such heading")
    assert not broken, "\n".join(broken)
