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
from sqlalchemy.orm import Session, scoped_session


def _tables_sql(names: list[str]) -> sa.TextClause:
    parts = [f"SELECT '{name}' AS name, md5(coalesce(string_agg(md5(r::text), '' ORDER BY md5(r::text)), '')) "
             f'AS digest FROM "{name}" r' for name in names]
    return sa.text(" UNION ALL ".join(parts))


def state_digest(session: Session | scoped_session, client: redis.Redis) -> str:
    """One hash over the rows of every table of the schema as `session` sees them (also tables created at run time)
    and every Redis key of `client`'s db (value and type; not TTLs, which tick)."""
    digest = hashlib.sha256()
    names = list(session.execute(sa.text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")).scalars())
    for name, rows in session.execute(_tables_sql(names)).all():
        digest.update(f"{name}={rows};".encode())
    for key in sorted(client.scan_iter(count=1000)):
        digest.update(key + b"=" + (client.dump(key) or b"") + b";")
    return digest.hexdigest()
