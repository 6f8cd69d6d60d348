"""Sessions: `nox -s tests`, `nox -s lint`, `nox -s docs`, `nox -s bench-cpu`,
`nox -s bench-gpu`, `nox -s hpo`, ...

Arguments after `--` pass through to the command each session runs, e.g.
`nox -s bench-cpu -- --workload mlp --repetitions 3 --out runs/mine`;
`nox -s bench-cpu -- --plan` prints the processes and estimated wall time without running,
`-- --budget 20` fits the suite into 20 minutes, `-- --rigorous` lifts any budget.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import subprocess
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

CPU_CONSTRAINTS = ["-c", "constraints-cpu.txt"]  # the local CPU build of torch, not CUDA's
# framework -> (distribution, releases): the releases `versions` measures, as data
VERSIONS = {framework: (spec["package"], spec["releases"]) for framework, spec in
            tomllib.loads(Path("benchmarks/versions.toml").read_text()).items()}


def _supply_chain():  # by its path: importing the harness package would do more than this
    spec = importlib.util.spec_from_file_location("supply_chain", "harness/supply_chain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REFUSED = _supply_chain().releases_problem(VERSIONS)
if _REFUSED:  # a compromised release is never installed, whatever the session
    raise SystemExit(f"noxfile: {_REFUSED}")
RELEASES = [(fw, pkg, release) for fw, (pkg, releases) in VERSIONS.items() for release in releases]
# the `docs` extra's pinned MkDocs and theme: `nox -s docs` installs them, not the project
DOCS_REQUIREMENTS = tomllib.loads(Path("pyproject.toml").read_text())[
    "project"]["optional-dependencies"]["docs"]


def install_cpu(session: nox.Session, extras: str = "") -> None:
    session.install(*CPU_CONSTRAINTS, "-e", f".{extras}")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on CPU (GPU tests are skipped without CUDA)."""
    install_cpu(session, "[test,export,serve]")
    # the slowest tests in every log: what to look at when the suite grows past 15 minutes
    session.run("pytest", "--durations=25", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over everything, mypy over the public packages, the layers' import contracts."""
    install_cpu(session, "[lint]")
    session.run("ruff", "check", ".")
    session.run("mypy")
    session.run("lint-imports", "--no-cache")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the manual (docs/) into build/docs, failing on any warning or broken link."""
    session.install(*DOCS_REQUIREMENTS)  # the manual needs no torch: the extra's pins alone
    session.run("mkdocs", "build", "--strict", "--config-file", "docs/mkdocs.yml",
                *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})  # Material's banner, no warning


@nox.session(name="bench-cpu")
def bench_cpu(session: nox.Session) -> None:
    """Run the CPU suite (`-- --full`: the thorough one) and write its HTML report."""
    install_cpu(session, "[loggers,search,vision,nlp,export,serve]")  # vision, nlp: real models
    args = list(session.posargs)
    suite = "cpu-full" if "--full" in args else "cpu"  # the long tail: half an hour or more
    args = [a for a in args if a != "--full"]
    session.run("python", "-m", "harness", "suite", f"benchmarks/suites/{suite}.toml", *args)


@nox.session
def hpo(session: nox.Session) -> None:
    """One Optuna study per paradigm and the HPO page (`nox -s hpo -- --workload mlp ...`)."""
    install_cpu(session, "[search]")
    args = session.posargs or ["--workload", "mlp", "--size", "tiny", "--trials", "20",
                               "--steps", "60", "--warmup", "4", "--window", "4"]
    session.run("python", "-m", "harness", "hpo", *args)


@nox.session(name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    """Run the smoke suite (under a minute on CPU)."""
    install_cpu(session)
    session.run("python", "-m", "harness", "suite", "benchmarks/suites/smoke.toml",
                *session.posargs)


def _cuda_present() -> bool:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    return subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def install_gpu(session: nox.Session, extras: str) -> None:
    """Install on top of the host's own packages (seen through system site-packages): the
    project without dependencies, then only what the host lacks, from the wheel folder (.whl/,
    or $PARADIGM_BENCH_WHEELS) before any registry (harness/install.py says how)."""
    if not _cuda_present():
        session.error("no CUDA GPU found (nvidia-smi sees none): use the CPU sessions instead")
    session.run("python", "-m", "harness.install", "--require-cuda", "--extras", extras)


@nox.session(name="bench-gpu", venv_params=["--system-site-packages"])
def bench_gpu(session: nox.Session) -> None:
    """Run the GPU suite (`-- --full`: the thorough one) with the host's CUDA torch; report."""
    install_gpu(session, "loggers,search,vision,nlp")  # vision, nlp: the real models
    args = list(session.posargs)
    suite = "gpu-full" if "--full" in args else "gpu"  # the thorough suite: an hour or more
    args = [a for a in args if a != "--full"]
    session.run("python", "-m", "harness", "suite", f"benchmarks/suites/{suite}.toml", *args)


@nox.session(name="tests-gpu", venv_params=["--system-site-packages"])
def tests_gpu(session: nox.Session) -> None:
    """Run the GPU-marked tests with the host's own CUDA torch."""
    install_gpu(session, "test")
    session.run("pytest", "-m", "gpu", *session.posargs)


@nox.session(name="gpu-check", venv_params=["--system-site-packages"])
def gpu_check(session: nox.Session) -> None:
    """The GPU path in minutes: GPU tests, each gpu-suite cell once, report, JSON summary."""
    install_gpu(session, "test")
    args = list(session.posargs)
    out = args.pop(0) if args and not args[0].startswith("-") else \
        f"results/gpu-check-{dt.datetime.now():%Y%m%d-%H%M%S}"
    session.run("python", "-m", "harness", "gpu-check", "--out", out, *args)


# the lent GPU host's packages that matter to the harness (docs: gpu-host.md), CPU torch for CUDA
HOST_IMAGE = ["torch", "pytorch-lightning==2.6.6", "torchmetrics==1.9.0", "pytest",
              "pytest-benchmark", "pytest-timeout", "nvidia-ml-py", "pandas", "matplotlib",
              "scipy", "jinja2", "psutil", "tqdm", "numpy", "packaging", "setuptools",
              "torchvision", "transformers", "tensorboard", "onnx", "onnxscript", "onnxruntime"]
IGNITE_WHEEL = "pytorch-ignite==0.5.5"


@nox.session(name="gpu-rehearsal")
def gpu_rehearsal(session: nox.Session) -> None:
    """First contact with a registry-less GPU host, rehearsed on CPU (no Ignite/Optuna/MLflow)."""
    session.install(*CPU_CONSTRAINTS, *HOST_IMAGE)  # the host's image: no project, no Ignite
    tmp = Path(session.create_tmp())
    wheels = tmp / "wheels"  # the machine with a registry fills the folder...
    session.run("pip", "download", IGNITE_WHEEL, "--no-deps", "-d", str(wheels))
    # ...the host installs with the registry switched off
    session.run("python", "-m", "harness.install", "--no-index", "--find-links", str(wheels),
                "--extras", "test")
    session.run("python", "-m", "pytest", "-m", "gpu", "--collect-only", "-q",
                "-p", "no:cacheprovider")
    seen = session.run("python", "-m", "harness", "gpu-check", "--out", str(tmp / "check"),
                       silent=True, success_codes=[2])
    if "no CUDA device" not in str(seen) or "Traceback" in str(seen):
        session.error(f"gpu-check did not stop at its 'no CUDA' line: {str(seen)[-2000:]}")
    session.log(f"gpu-check stopped as it should without a GPU: {str(seen).strip()[-300:]}")


@nox.session
def report(session: nox.Session) -> None:
    """Re-render the report of a stored run: `nox -s report -- RUN_DIR`."""
    install_cpu(session)
    session.run("python", "-m", "harness", "report", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare two stored runs: `nox -s compare -- BEFORE_DIR AFTER_DIR`."""
    install_cpu(session)
    session.run("python", "-m", "harness", "compare", *session.posargs)


@nox.session(name="bench-micro")
def bench_micro(session: nox.Session) -> None:
    """pytest-benchmark: training steps per workload and paradigm, the trackers' own cost
    (then the manual's tracker figures, from benchmarks/figures.py)."""
    install_cpu(session, "[test]")
    session.run("pytest", "benchmarks", "--benchmark-enable", "--benchmark-autosave",
                "--benchmark-json=.benchmarks/last-run.json", "-p", "no:cacheprovider",
                *session.posargs)
    session.run("python", "benchmarks/figures.py", ".benchmarks/last-run.json")


@nox.session(name="version")
@nox.parametrize(("framework", "package", "release"), RELEASES,
                 ids=[f"{fw}-{release}" for fw, _, release in RELEASES])
def version(session: nox.Session, framework: str, package: str, release: str) -> None:
    """One framework release beside the plain loop, in its own environment (-- [ROOT] [OPTIONS])."""
    session.install(*CPU_CONSTRAINTS, "-e", ".", f"{package}=={release}")
    args = list(session.posargs)
    root = args.pop(0) if args and not args[0].startswith("-") else "results/versions"
    session.run("python", "-m", "harness", "suite", "benchmarks/suites/versions.toml",
                "--paradigm", "plain", framework, "--out", f"{root}/{framework}-{release}",
                "--no-report", *args)


@nox.session
def versions(session: nox.Session) -> None:
    """Every release of benchmarks/versions.toml, then the page comparing them."""
    if session.posargs and not session.posargs[0].startswith("-"):
        session.error("`versions` takes harness suite options only; it picks its own root")
    root = f"results/versions-{dt.datetime.now():%Y%m%d-%H%M%S}"
    for fw, _, release in RELEASES:
        session.notify(f"version({fw}-{release})", [root, *session.posargs])
    session.notify("versions-report", [root])


@nox.session(name="versions-report")
def versions_report(session: nox.Session) -> None:
    """The by-release page of a versions root: `nox -s versions-report -- ROOT [--allow-mixed]`."""
    install_cpu(session)
    root = Path(session.posargs[0] if session.posargs else "results/versions")
    options = list(session.posargs[1:])  # e.g. --allow-mixed: compare other harness/torch
    folders = sorted(str(p) for p in root.glob("*") if (p / "cells").is_dir())
    if not folders:
        session.error(f"no run folders in {root}: run `nox -s versions` first")
    missing = [f"{fw}-{release}" for fw, _, release in RELEASES
               if not (root / f"{fw}-{release}" / "cells").is_dir()]
    session.run("python", "-m", "harness", "versions", *folders, *options,
                "-o", str(root / "versions.html"), "--missing", *missing)
