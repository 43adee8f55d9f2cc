"""A digest of everything stored: every table's rows (PostgreSQL, in the test's own transaction) and every Redis key.

The bad-input walks compare what the owner sees through the API before and after each bad request (a fingerprint of
~25 requests, most of such a test's time). Equal digests mean nothing stored changed, so the API's view cannot have
changed either: the walks skip the fingerprint then, and compare it only when the digests differ (a counter, a
last-used time, or a real change). The role rules compare digests alone: a forbidden call changes nothing stored.
"""

from __future__ import annotations

import hashlib

import redis
import sqlalchemy as sa

from api.extensions.database import db


def _tables_sql() -> sa.TextClause:
    parts = [f"SELECT '{t.name}' AS name, md5(coalesce(string_agg(md5(r::text), '' ORDER BY md5(r::text)), '')) "
             f'AS digest FROM "{t.name}" r' for t in db.metadata.sorted_tables]
    return sa.text(" UNION ALL ".join(parts))


def state_digest(session: object, client: redis.Redis) -> str:
    """One hash over every table's rows as `session` sees them and every Redis key of `client`'s db (value and type;
    not TTLs, which tick)."""
    digest = hashlib.sha256()
    for name, rows in session.execute(_tables_sql()).all():  # type: ignore[attr-defined]
        digest.update(f"{name}={rows};".encode())
    for key in sorted(client.scan_iter(count=1000)):
        digest.update(key + b"=" + (client.dump(key) or b"") + b";")
    return digest.hexdigest()
