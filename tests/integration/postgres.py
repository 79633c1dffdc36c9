"""A throwaway PostgreSQL server from Debian's binaries (initdb, pg_ctl), on loopback.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system
user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class Postgres:
    data_dir: Path
    port: int
    pg_ctl: str
    user: str | None

    @property
    def uri(self) -> str:
        return f"postgresql+psycopg2://slipway@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data_dir), "-m", "fast", "stop")


def start_postgres(base: Path, port: int) -> Postgres:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise FileNotFoundError("initdb/pg_ctl not found (Debian package: postgresql)")
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        pwd.getpwnam(user)  # raises KeyError when the system user is missing
    base.mkdir(parents=True, exist_ok=True)
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir(exist_ok=True)
    if user:
        entry = pwd.getpwnam(user)
        for path in (base, sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = Postgres(data, port, pg_ctl, user)
    server._run(initdb, "-D", str(data), "-U", "slipway", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    server._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
    return server
