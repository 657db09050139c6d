"""Where the daemon's log goes: the terminal while attached; a log file or syslog once
detached.  Normal mode logs warnings and errors, and the few successes a user wants to
see (filesystem created, mounted); ``--debug`` logs every call."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s redisfs[%(process)d] %(levelname)s %(name)s: %(message)s"
SYSLOG_FORMAT = "redisfs[%(process)d]: %(levelname)s %(message)s"
NOTICE_LOGGER = "redisfs.notice"


def default_log_path(prefix: str) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "redisfs" / f"{prefix}.log"


class LogSetup:
    """Configures the root logger; ``location`` is what the mount registry shows."""

    def __init__(self, debug: bool, log_file: str | None, prefix: str) -> None:
        self.prefix = prefix
        self.root = logging.getLogger()
        self.root.setLevel(logging.DEBUG if debug else logging.WARNING)
        logging.getLogger(NOTICE_LOGGER).setLevel(logging.INFO)
        self.terminal = logging.StreamHandler(sys.stderr)
        self.terminal.setFormatter(logging.Formatter("redisfs: %(levelname)s: %(message)s"))
        self.root.addHandler(self.terminal)
        self.location = ""
        if log_file:
            self._to_file(Path(log_file))

    def _to_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
        self.root.addHandler(handler)
        self.location = str(path)

    def prepare_detached(self) -> None:
        """Pick the log destination for after the terminal is gone."""
        if self.location:
            return
        if os.path.exists("/dev/log"):
            handler = logging.handlers.SysLogHandler(address="/dev/log")
            handler.setFormatter(logging.Formatter(SYSLOG_FORMAT))
            self.root.addHandler(handler)
            self.location = "syslog"
        else:
            self._to_file(default_log_path(self.prefix))

    def detached(self) -> None:
        self.root.removeHandler(self.terminal)
