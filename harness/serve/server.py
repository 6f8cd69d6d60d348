"""The server process: ``python -m harness.serve.server CONFIG.json``.

It pins itself (and so every process it starts) to the CPU the configuration names, before
torch is imported, ends its process group if its parent goes, then serves until it is
stopped: the no-op endpoint, LitServe, or a FastAPI app on uvicorn (one worker, access log
off).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def serve(config: dict[str, Any]) -> None:
    import uvicorn

    from harness.serve.protocol import InputSpec

    spec = InputSpec.from_dict(config["input"])
    if config["kind"] == "litserve":
        from harness.serve.litserve_api import serve as litserve

        litserve(config)
        return
    if config["kind"] == "noop":
        from harness.serve.app import noop_app

        app = noop_app(spec)
    else:
        from harness.serve.app import create_app
        from harness.serve.predictors import build

        app = create_app(build(config), spec)
    uvicorn.run(app, host="127.0.0.1", port=config["port"], log_level="warning",
                access_log=False, workers=1)


def follow_parent(interval_s: float = 0.5) -> None:
    """End this server's whole process group when the harness that started it is gone (even
    SIGKILLed, when it could not stop the server itself): nothing outlives a run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="follow-parent").start()


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    pin(config.get("cpu"))
    follow_parent()
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
