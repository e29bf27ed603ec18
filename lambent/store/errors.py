"""Database errors translated at the store's boundary (httpx's rule: a lower layer's error becomes
the most specific :class:`~lambent.errors.LambentError` where it leaves that layer).

No SQLAlchemy or ``sqlite3`` exception leaves :mod:`lambent.store`:

- a full disk (``SQLITE_FULL``, ENOSPC) is :class:`~lambent.errors.StorageFull` (a store given a
  :class:`~lambent.store.reserve.DiskGuard` gets the guard's translation first, which also marks
  the data directory full);
- a broken constraint is :class:`ConstraintViolation`, which store modules catch where they expect
  one (an alias's second InProgress deployment) — anywhere else it is a lambent bug, answered 500;
- anything else (``database is locked`` after the busy timeout, ``disk I/O error``, a corrupt or
  read-only file, a database that cannot be opened) is :class:`~lambent.errors.ServiceError`.

Each carries the database, the table and the operation as context, and is logged here, once, with
the driver's own words; the caller sees a message that names no SQL.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
from typing import Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext

from lambent.errors import ConstraintViolation, LambentError, ServiceError, StorageFull
from lambent.store.reserve import disk_full_message, is_disk_full

log = logging.getLogger(__name__)

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE|TABLE|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_]*)', re.IGNORECASE)
_VERB = re.compile(r"\s*([A-Za-z]+)")
#: What the caller is told: the operation failed on lambent's side and may be retried.
_MESSAGE: Final = "lambent's state database could not carry out the request ({reason}); try again later."




class StoreUnavailable(ServiceError):
    """A database cannot be opened or brought up to date (a start-up failure: the message names
    the file and the driver's reason, for the operator)."""


def unavailable(error: LambentError, database: str) -> StoreUnavailable:
    reason = error.context.get("reason") or error.message
    return StoreUnavailable(f"cannot open {database}: {reason}", **error.context)


def statement_context(statement: str | None) -> tuple[str, str]:
    """(operation, table) a failed statement names, for logs: ("INSERT", "functions");
    ("COMMIT", "") for a commit or a statement-less failure."""
    if not statement:
        return "COMMIT", ""
    verb = _VERB.match(statement)
    table = _TABLE.search(statement)
    return (verb.group(1).upper() if verb else "SQL"), (table.group(1) if table else "")


def _reason(exc: BaseException) -> str:
    """The driver's short words for the failure: 'database is locked', 'disk I/O error'."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(orig.args[0]) if orig.args else type(orig).__name__
    return text.splitlines()[0][:200] if text else type(orig).__name__


def translate(exc: BaseException, *, database: str, operation: str, table: str = "") -> LambentError:
    """The LambentError for a database failure ``exc`` (already translated ones are returned as
    they are), logged once here."""
    if isinstance(exc, LambentError):
        return exc
    reason = _reason(exc)
    where = f"{operation} on {table}" if table else operation
    code = getattr(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc, "sqlite_errorname", None)
    context: dict[str, object] = {"database": database, "table": table, "operation": operation, "reason": reason}
    if code:
        context["sqlite_error"] = code
    error: LambentError
    level = logging.ERROR
    if is_disk_full(exc):
        error = StorageFull(disk_full_message("the change"), **context)
        level = logging.WARNING  # the guard's own state change says the rest
    elif isinstance(exc, (sa.exc.IntegrityError, sqlite3.IntegrityError)):
        error = ConstraintViolation(_MESSAGE.format(reason="constraint violated"), **context)
        level = logging.DEBUG  # expected where it is caught; elsewhere the 500 is logged with it
    else:
        error = ServiceError(_MESSAGE.format(reason=reason), **context)
    log.log(level, "database %s: %s failed: %s (%s)", database, where, reason, code or type(exc).__name__)
    return error


def install(engine: sa.Engine, database: str) -> None:
    """Translate every driver error met on ``engine`` (statements, commits, connects). Install it
    after a DiskGuard's listener, which must see a full disk first."""
    event.listen(engine, "handle_error", functools.partial(_on_error, database))


def _on_error(database: str, ctx: ExceptionContext) -> None:
    exc = ctx.original_exception
    if isinstance(exc, LambentError) or not isinstance(exc, (sqlite3.Error, sa.exc.DBAPIError, OSError)):
        return
    operation, table = statement_context(ctx.statement)
    raise translate(ctx.sqlalchemy_exception or exc, database=database, operation=operation, table=table) from exc
