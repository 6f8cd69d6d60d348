"""Where a study lives, so that several processes (or machines) can share it.

Optuna's own advice, followed here: processes on one machine share a journal file
(``JournalStorage(JournalFileBackend(path))``, appends under a file lock); processes on
several machines share a Redis server through the same journal, kept in Redis
(``redis://[:password@]host[:port][/db]``: ``JournalStorage(JournalRedisBackend(url))``), or
a relational database given by an SQLAlchemy URL (PostgreSQL or MySQL; Optuna's FAQ advises
against SQLite for parallel optimisation, so ``sqlite://`` takes one worker only). A storage
argument without ``://`` is a journal file path; any other scheme is refused.

The articles' ``optuna.integration.RedisStorage`` never existed (ImportError); Optuna's own
``optuna.storages.RedisStorage`` (1.4 to 3.0) was removed in 3.1 in favour of the journal's
Redis backend, which is what ``redis://`` opens here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

JOURNAL_NAME = "optuna.journal"  # the default: one journal file in the run folder
CONNECT_TIMEOUT_S = 10  # an unreachable host is refused in seconds, not minutes
# How a worker process gets the storage URL, password included: its environment (readable by
# its own user only, /proc/PID/environ), never the spec file in the run folder
STORAGE_ENV = "PARADIGM_BENCH_HPO_STORAGE"
REDIS_SCHEMES = ("redis", "rediss")
RDB_SCHEMES = ("postgresql", "postgres", "mysql", "sqlite")


class StorageError(ValueError):
    """A storage that cannot be opened or reached; one line, raised before any trial."""


def is_database(url: str) -> bool:
    return "://" in url


def scheme(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql``; "" for a journal file path."""
    return url.split("://", 1)[0].split("+", 1)[0].lower() if is_database(url) else ""


def default_storage(run_dir: Path) -> str:
    return str((run_dir / JOURNAL_NAME).resolve())


def password(url: str) -> str | None:
    """The URL's password, if it holds one."""
    if not is_database(url):
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redacted(url: str) -> str:
    """The URL as results, logs and reports show it: its password replaced by ``***``."""
    secret = password(url)
    if not secret:
        return url
    head, rest = url.split("://", 1)
    userinfo, at, tail = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{head}://{user}:***{at}{tail}"


def scrubbed(text: str, url: str) -> str:
    """``text`` (an error message, a log line) without the URL's password anywhere in it."""
    from urllib.parse import unquote

    secret = password(url)  # as the URL spells it, percent-encoded or not
    if not secret:
        return text
    for form in sorted({secret, unquote(secret)}, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def check_scheme(url: str) -> None:
    """Refuse a scheme this module cannot open, before anything else."""
    known = scheme(url)
    if known and known not in (*REDIS_SCHEMES, *RDB_SCHEMES):
        raise StorageError(
            f"unknown storage scheme {known!r} in {redacted(url)}: give a journal file path, "
            "redis://host:port, postgresql://user@host/db, mysql://... or sqlite:///file")


def open_storage(url: str, worker: bool = False) -> Any:
    """The Optuna storage behind ``url``; StorageError (one line) when it cannot be opened.

    A database holds a bounded number of connections: a worker process keeps one open (its
    trials use the storage one call at a time) and may open a second while Optuna sets the
    storage up (it nests two sessions there: a pool of one without overflow times out), any
    other process (the command's checks and snapshots) opens one per use and closes it. So N
    workers hold N connections, at most 2N, where SQLAlchemy's default pool keeps up to 5
    idle ones per engine, and every engine the command created would keep its own until
    collected."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalRedisBackend

    check_scheme(url)
    if not is_database(url):
        path = Path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as exc:
            raise StorageError(f"cannot open the journal file {url}: {exc}") from None
    try:
        if scheme(url) in REDIS_SCHEMES:
            with warnings.catch_warnings():  # "experimental": known, and said in the docs
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                backend = JournalRedisBackend(_with_timeouts(url))
            return optuna.storages.JournalStorage(backend)
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(url, worker))
    except Exception as exc:  # the driver's own error types vary: OperationalError, ImportError
        raise StorageError(f"cannot reach the study storage {redacted(url)}: "
                           f"{first_line(exc, url)}") from None


def check(url: str) -> None:
    """Open the storage once and ask it for its studies, so that a wrong URL, a server that
    is down, a wrong password or a missing driver is refused before any trial runs."""
    storage = open_storage(url)
    try:
        storage.get_all_studies()
    except Exception as exc:
        raise StorageError(f"cannot use the study storage {redacted(url)}: "
                           f"{first_line(exc, url)}") from None
    finally:
        remove = getattr(storage, "remove_session", None)
        if remove is not None:
            remove()


def _with_timeouts(url: str) -> str:
    """A Redis URL that gives up connecting after CONNECT_TIMEOUT_S (redis-py waits forever
    by default), unless it sets its own."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("socket_connect_timeout", str(CONNECT_TIMEOUT_S))
    return parts._replace(query=urlencode(query)).geturl()


def _engine_kwargs(url: str, worker: bool) -> dict[str, Any]:
    if scheme(url) not in ("postgresql", "postgres", "mysql"):
        return {}
    from sqlalchemy.pool import NullPool

    pool: dict[str, Any] = ({"pool_size": 1, "max_overflow": 1}
                            if worker else {"poolclass": NullPool})
    return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}, **pool}


def refuse_sqlite_workers(url: str, workers: int) -> None:
    """SQLite takes one worker: its file lock makes parallel writers fail with "database is
    locked" (Optuna's FAQ advises against it for parallel optimisation)."""
    if scheme(url) == "sqlite" and workers > 1:
        raise StorageError(
            f"SQLite cannot be shared by {workers} workers (its lock fails parallel writers): "
            "give a journal file path (--storage OUT/optuna.journal, the default) for "
            "processes on one machine, or a redis:// or postgresql:// URL for several")


def first_line(exc: BaseException, url: str = "") -> str:
    """The exception's first line, without the URL's password."""
    text = str(exc).strip() or type(exc).__name__
    # SQLAlchemy wraps the driver's message: "(psycopg2.OperationalError) connection ..."
    return scrubbed(text.splitlines()[0][:300], url)
