"""Prebuilt Core statements run on the driver's cursor: the one place code goes below SQLAlchemy's execution.

For the few statements every message of a hospital feed runs (patients/services.py, hl7/services.py).
SQLAlchemy's execution of a cached statement costs some 60-70 µs (execution context, parameters, result
object) against 1-2 µs for the driver's own `execute`; a message runs about ten, which was a third of its
CPU (issue 15, docs/benchmarks.md). What is kept from SQLAlchemy: the SQL as compiled for the connection's
dialect (once per dialect), each column type's bind and result processing through the types' public
processors (UTC datetimes, dates, booleans), and its exception classes (an IntegrityError stays one).

What a `Prepared` statement does not do, so only plain statements qualify: Python-side column defaults (an
INSERT must name every column it writes: it is compiled with exactly those), expanding IN lists, ORM
events, `before_cursor_execute` listeners. It runs on the session's connection, in its transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]                  # bind names in the order the driver takes them
    binds: tuple[Processor, ...]            # each bind's processor, in that order
    defaults: dict[str, Any]                # values of literal binds (a literal in a SELECT list)
    positional: bool
    results: tuple[Processor, ...]          # each result column's processor


class Prepared:
    def __init__(self, statement: ClauseElement, columns: Iterable[str] = ()):
        """`columns`: for an INSERT or an UPDATE without explicit values, the columns it writes."""
        self.statement, self.columns = statement, list(columns) or None
        self.keys = tuple(column.key for column in statement.exported_columns)  # of the rows' values
        self._compiled: dict[str, _Compiled] = {}

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple]:
        """The statement run once; its rows (a SELECT's, or what RETURNING gives), processed."""
        compiled = self._for(conn)
        found = self._run(conn, compiled, lambda cursor: cursor.execute(
            compiled.sql, self._parameters(compiled, params)))
        return [_processed(row, compiled.results) for row in found]

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """An INSERT run once per row (the driver's executemany), no RETURNING."""
        compiled = self._for(conn)
        self._run(conn, compiled, lambda cursor: cursor.executemany(
            compiled.sql, [self._parameters(compiled, row) for row in rows]))

    @staticmethod
    def _run(conn: Connection, compiled: _Compiled, execute: Callable[[Any], Any]) -> list[tuple]:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            execute(cursor)
            return cursor.fetchall() if cursor.description else []
        except conn.dialect.loaded_dbapi.Error as exc:
            # SQLAlchemy's own class (IntegrityError...), as its execution would raise; no values in it.
            raise DBAPIError.instance(compiled.sql, None, exc, conn.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=conn.dialect) from exc
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def namespace(self, conn: Connection, params: dict[str, Any]) -> SimpleNamespace | None:
        """The first row as a namespace of its columns (what the feed works on), or None."""
        row = self.first(conn, params)
        return SimpleNamespace(**dict(zip(self.keys, row, strict=True))) if row is not None else None

    def _for(self, conn: Connection) -> _Compiled:
        compiled = self._compiled.get(conn.dialect.name)
        if compiled is None:
            compiled = self._compiled[conn.dialect.name] = _compile(self.statement, conn, self.columns)
        return compiled

    @staticmethod
    def _parameters(compiled: _Compiled, params: dict[str, Any]) -> tuple | dict:
        values = [params[name] if name in params else compiled.defaults[name] for name in compiled.names]
        values = [process(value) if process else value
                  for process, value in zip(compiled.binds, values, strict=True)]
        return tuple(values) if compiled.positional else dict(zip(compiled.names, values, strict=True))


def _compile(statement: ClauseElement, conn: Connection, columns: list[str] | None) -> _Compiled:
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, column_keys=columns)
    defaulted = [column.name for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    if defaulted:
        raise ValueError(f"Prepared runs no column defaults: name {', '.join(defaulted)} in its columns")
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
    # dialect_impl: the dialect's own type (SQLite's DATETIME writes and reads text), as SQLAlchemy runs it.
    binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
    # A SELECT's columns, or an INSERT's or UPDATE's RETURNING ones (none without RETURNING).
    results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                    for column in statement.exported_columns)
    return _Compiled(compiled.string, names, binds, defaults, compiled.positional, results)


def _processed(row: tuple, results: tuple[Processor, ...]) -> tuple:
    if not any(results):
        return tuple(row)
    return tuple(process(value) if process else value for process, value in zip(results, row, strict=True))
