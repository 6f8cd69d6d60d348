"""The server process: ``python -m harness.serve.server CONFIG.json``.

It pins itself (and so every process it starts) to the CPU the configuration names, before
torch is imported, then serves until it is stopped: the no-op endpoint, LitServe, or a FastAPI
app on uvicorn (one worker, access log off).
"""

from __future__ import annotations

import json
import os
import sys
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


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[0]).read_text())
    pin(config.get("cpu"))
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
