"""Start and stop a private redis-server: the embedded default, tests and benchmarks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRedis:
    """A redis-server child process bound to 127.0.0.1 with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        appendonly: bool = False,
        save: str = "",
        extra_args: list[str] | None = None,
        executable: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.save = save
        self.extra_args = extra_args or []
        self.executable = executable or shutil.which("redis-server") or "redis-server"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, timeout: float = 10.0) -> LocalRedis:
        """Start the server and wait until it answers PING."""
        if not Path(self.executable).exists() and not shutil.which(self.executable):
            raise FileNotFoundError("redis-server not found on PATH (apt-get install redis-server)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--save", self.save,
            "--appendonly", "yes" if self.appendonly else "no",
            "--logfile", str(self.log_path), "--daemonize", "no",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        # no client-side retries: this loop is the retry, and NOAUTH must answer at once
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5,
                             retry=Retry(NoBackoff(), 0))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr
                err = stderr.read().decode(errors="replace") if stderr else ""
                raise RuntimeError(f"redis-server exited: {err or self.log_tail()}")
            try:
                client.ping()
            except redis.AuthenticationError:
                return self  # answers NOAUTH: up, and protected by --requirepass
            except redis.RedisError:
                pass
            else:
                return self
            finally:
                client.close()
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server on port {self.port} did not start: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
