"""Where a study lives, so that several processes (or machines) can share it.

Optuna's own advice, followed here: processes on one machine share a journal file
(``JournalStorage(JournalFileBackend(path))``, appends under a file lock); processes on
several machines share a relational database given by an SQLAlchemy URL (PostgreSQL or
MySQL; Optuna's FAQ advises against SQLite for parallel optimisation). A storage argument
with ``://`` is a database URL, anything else a journal file path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

JOURNAL_NAME = "optuna.journal"  # the default: one journal file in the run folder
CONNECT_TIMEOUT_S = 10  # an unreachable database host is refused in seconds, not minutes


class StorageError(ValueError):
    """A storage that cannot be opened or reached; one line, raised before any trial."""


def is_database(url: str) -> bool:
    return "://" in url


def default_storage(run_dir: Path) -> str:
    return str((run_dir / JOURNAL_NAME).resolve())


def redacted(url: str) -> str:
    """The URL as results and reports show it: without its password."""
    if not is_database(url):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://..."


def open_storage(url: str) -> Any:
    """The Optuna storage behind ``url``; StorageError (one line) when it cannot be opened."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if not is_database(url):
        path = Path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot open the journal file {url}: {exc}") from None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except Exception as exc:  # the driver's own error types vary: OperationalError, ImportError
        raise StorageError(f"cannot reach the study storage {redacted(url)}: "
                           f"{_first_line(exc)}") from None


def check(url: str) -> None:
    """Open the storage once and ask it for its studies, so that a wrong URL, a server that
    is down or a missing driver is refused before any trial runs."""
    storage = open_storage(url)
    try:
        storage.get_all_studies()
    except Exception as exc:
        raise StorageError(f"cannot use the study storage {redacted(url)}: "
                           f"{_first_line(exc)}") from None
    finally:
        remove = getattr(storage, "remove_session", None)
        if remove is not None:
            remove()


def _engine_kwargs(url: str) -> dict[str, Any]:
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme in ("postgresql", "postgres", "mysql"):
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    return {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # SQLAlchemy wraps the driver's message: "(psycopg2.OperationalError) connection ..."
    return text.splitlines()[0][:300]
