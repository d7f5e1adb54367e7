#!/usr/bin/env python
"""Run the test suite against real PostgreSQL and Redis.

DATABASE_URL / REDIS_URL in the environment win. Otherwise throwaway servers are started from
the local binaries (initdb/pg_ctl, redis-server) on free ports and removed afterwards. Where a
binary is missing, the tests that need it are skipped and this script says so loudly; with
CHAPTERHOUSE_REQUIRE_SERVICES=1 (CI) a missing service is an error instead.
"""

import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not come up")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def start_postgres() -> str | None:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        return None
    data = Path(tempfile.mkdtemp(prefix="chapterhouse-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = f"-p {port} -k {data} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-w", "-l", str(data / "log"), "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )

    def stop() -> None:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(data, ignore_errors=True)

    atexit.register(stop)
    return f"postgres://postgres@127.0.0.1:{port}/postgres"


def start_redis() -> str | None:
    binary = shutil.which("redis-server")
    if not binary:
        return None
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(proc.terminate)
    _wait_port(port)
    return f"redis://127.0.0.1:{port}/15"


def main() -> int:
    env = os.environ
    missing = []
    if not env.get("DATABASE_URL"):
        url = start_postgres()
        if url:
            env["DATABASE_URL"] = url
        else:
            missing.append("PostgreSQL (install postgresql, or set DATABASE_URL)")
    if not env.get("REDIS_URL"):
        url = start_redis()
        if url:
            env["REDIS_URL"] = url
        else:
            missing.append("Redis (install redis-server, or set REDIS_URL)")
    if missing:
        banner = "\n".join(f"  !! MISSING: {m}" for m in missing)
        print(f"\n{'!' * 72}\n{banner}\n  tests marked 'integration' will be SKIPPED\n{'!' * 72}\n")
        if env.get("CHAPTERHOUSE_REQUIRE_SERVICES") == "1":
            print("CHAPTERHOUSE_REQUIRE_SERVICES=1: refusing to run without them.", file=sys.stderr)
            return 2
        env["CHAPTERHOUSE_MISSING_SERVICES"] = "; ".join(missing)
    print(f"database: {env.get('DATABASE_URL', 'sqlite')}  redis: {env.get('REDIS_URL', '-')}")
    cmd = [sys.executable, "-m", "pytest", *sys.argv[1:]]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
