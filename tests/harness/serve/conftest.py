"""The serving tests need the ``serve`` extra; without it (the GPU host) they are not
collected (``pip install 'paradigm-bench[serve]'``)."""

from harness.serve.spec import missing_packages

collect_ignore_glob = ["test_*.py"] if missing_packages() else []
