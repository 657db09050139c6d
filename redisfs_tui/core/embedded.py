"""The zero-configuration default server: localhost:6379, else a private redis-server.

A new user runs ``redisfs-ui`` or ``redisfs`` with no flags.  If a Redis
answers on localhost:6379 we use it; otherwise we start (or reuse) a private
redis-server that listens only on a unix socket under the XDG runtime dir and
keeps its data, with AOF persistence, under the XDG data dir.  It runs
detached (``--daemonize yes`` + pidfile) so mounts started from the UI keep
working after the UI quits.  Imports neither Textual nor FUSE.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .connection import DEFAULT_URL

APP_DIR = "redisfs"
SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"


def data_dir() -> Path:
    """$XDG_DATA_HOME/redisfs, else ~/.local/share/redisfs: where Redis keeps its AOF/RDB."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "share")
    return Path(base) / APP_DIR


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/redisfs, else /tmp/redisfs-<uid>: the socket and pidfile."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return Path(base) / APP_DIR
    return Path(tempfile.gettempdir()) / f"{APP_DIR}-{os.getuid()}"


def socket_url(socket_path: Path) -> str:
    return f"unix://{socket_path}?db=0"


@dataclass(frozen=True)
class EmbeddedServer:
    """A private redis-server reachable through a unix socket."""

    url: str
    socket_path: Path
    data_dir: Path
    pidfile: Path
    log_path: Path
    started: bool  # True if this call started it, False if it was already running

    def describe(self) -> str:
        verb = "Started" if self.started else "Using"
        return (f"{verb} a private redis-server (socket {self.socket_path}, "
                f"data with AOF in {self.data_dir})")


@dataclass(frozen=True)
class DefaultServer:
    """Where a command with no server flags connects, and a note for the user."""

    url: str
    embedded: EmbeddedServer | None
    message: str


def answers(url: str, timeout: float = 0.3) -> bool:
    """True if a Redis server answers PING at ``url`` within ``timeout``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def ensure_embedded_server(
    data: Path | None = None,
    runtime: Path | None = None,
    executable: str | None = None,
    timeout: float = 10.0,
) -> EmbeddedServer:
    """Reuse the private server if its socket answers, else start it detached.

    A lock file serialises concurrent starts (two UIs opened at once).
    Raises FileNotFoundError without redis-server on PATH, RuntimeError if it
    does not come up (with the end of its log).
    """
    data = Path(data) if data else data_dir()
    runtime = Path(runtime) if runtime else runtime_dir()
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    sock, pidfile, log = runtime / SOCKET_NAME, runtime / PIDFILE_NAME, data / "redis.log"
    url = socket_url(sock)
    server = EmbeddedServer(url, sock, data, pidfile, log, started=False)
    with open(runtime / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if sock.exists() and answers(url):
            return server
        exe = executable or shutil.which("redis-server")
        if not exe:
            raise FileNotFoundError(
                "no Redis answers on localhost:6379 and redis-server is not on PATH "
                "(install it, e.g. apt-get install redis-server, or pass --url)")
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # stale socket of a server that died
        args = [
            exe, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(data), "--appendonly", "yes", "--daemonize", "yes",
            "--pidfile", str(pidfile), "--logfile", str(log),
        ]
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"redis-server failed to start: "
                               f"{result.stderr.decode(errors='replace')[-400:]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sock.exists() and answers(url):
                return EmbeddedServer(url, sock, data, pidfile, log, started=True)
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not come up on {sock}: {_tail(log)}")


def stop_embedded_server(runtime: Path | None = None, timeout: float = 10.0) -> bool:
    """Shut the private server down (saving first); False if none was running."""
    runtime = Path(runtime) if runtime else runtime_dir()
    sock, pidfile = runtime / SOCKET_NAME, runtime / PIDFILE_NAME
    pid = _read_pid(pidfile)
    if sock.exists() and answers(socket_url(sock)):
        # no retries: the server closing the connection is the expected answer
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=timeout,
                             retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(save=True)
        client.close()
    elif pid is None:
        return False
    if pid is not None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return True


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie left for a non-reaping init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def resolve_default_server(probe_url: str = DEFAULT_URL) -> DefaultServer:
    """The server a command uses when none is given (see module docstring)."""
    if answers(probe_url):
        return DefaultServer(probe_url, None, f"Connected to the Redis on {probe_url}")
    server = ensure_embedded_server()
    return DefaultServer(server.url, server, server.describe())


def default_server_url() -> str:
    """Just the URL of :func:`resolve_default_server` (for the ``redisfs`` daemon)."""
    return resolve_default_server().url
