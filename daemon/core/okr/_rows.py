"""Reading and writing one row of the OKR store, and checking an OKR before it is stored
(run inside the store's transactions, on its worker thread)."""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

import msgspec

from ...errors import Conflict, InvalidParams, NotFound
from ...wire.okr import KeyResult, Okr, OkrRun, check_key_result
from ._machine import new_kr_id

__all__ = ["enc", "get_okr", "get_run", "put_okr", "put_run", "validate", "with_ids"]


def enc(obj: Any) -> str:
    """``obj`` as compact JSON text."""
    return msgspec.json.encode(obj).decode()


def get_okr(conn: sqlite3.Connection, okr_id: str) -> Okr:
    row = conn.execute("SELECT doc FROM okrs WHERE id = ?", (okr_id,)).fetchone()
    if row is None:
        raise NotFound(f"no OKR {okr_id}", data={"okr_id": okr_id})
    return msgspec.json.decode(row[0], type=Okr)


def put_okr(conn: sqlite3.Connection, okr: Okr, *, insert: bool) -> None:
    values = (okr.status, okr.owner, enc(okr.tags), enc(okr), okr.created_at, okr.updated_at, okr.id)
    if insert:
        conn.execute("INSERT INTO okrs (status, owner, tags, doc, created_at, updated_at, id) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", values)
    else:
        conn.execute("UPDATE okrs SET status = ?, owner = ?, tags = ?, doc = ?, created_at = ?, "
                     "updated_at = ? WHERE id = ?", values)


def get_run(conn: sqlite3.Connection, run_id: str) -> OkrRun:
    row = conn.execute("SELECT doc FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no OKR run {run_id}", data={"run_id": run_id})
    return msgspec.json.decode(row[0], type=OkrRun)


def put_run(conn: sqlite3.Connection, run: OkrRun, *, expect: str | None) -> None:
    sql = "UPDATE runs SET status = ?, doc = ?, updated_at = ? WHERE id = ?"
    args: list[Any] = [run.status, enc(run), run.updated_at, run.id]
    if expect is not None:
        sql += " AND status = ?"
        args.append(expect)
    if conn.execute(sql, args).rowcount != 1:
        raise Conflict(f"run {run.id} changed under us (expected {expect}); try again",
                       data={"run_id": run.id, "from": expect, "to": run.status})


def with_ids(krs: list[KeyResult]) -> list[KeyResult]:
    return [kr if kr.id else msgspec.structs.replace(kr, id=new_kr_id()) for kr in krs]


def validate(okr: Okr) -> None:
    if not okr.title.strip():
        raise InvalidParams("an OKR needs a title", data={"field": "title"})
    ids = [kr.id for kr in okr.key_results]
    if len(set(ids)) != len(ids):
        raise InvalidParams("key result ids must be unique", data={"field": "key_results"})
    for kr in okr.key_results:
        if (why := check_key_result(kr)) is not None:
            raise InvalidParams(why, data={"field": "key_results"})
    if okr.target_date is not None:
        try:
            datetime.date.fromisoformat(okr.target_date)
        except ValueError as exc:
            raise InvalidParams(f"target_date {okr.target_date!r} is not a YYYY-MM-DD date",
                                data={"field": "target_date"}) from exc
