"""Mounts: live mounts of every filesystem (from the registry), launch, unmount, log."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..core.connection import PASSWORD_ENV
from ..core.mountpoint import MountpointError, check_mountpoint
from ..core.registry import MountRecord, list_filesystems, list_mounts
from . import fmt
from .confirm import ConfirmModal
from .form import Field, FormModal
from .log_screen import LogScreen
from .mount_control import LaunchedMount, MountError, launch_mount, split_password, unmount
from .view import TableView

COLUMNS = ("state", "filesystem", "mountpoint", "mode", "host", "pid", "started", "heartbeat")


@dataclass(frozen=True)
class MountRow:
    """One line of the table: a registry record, or a mount launched here without one."""

    prefix: str
    mountpoint: str
    read_only: bool
    host: str
    pid: int
    started: float
    heartbeat: float
    state: str  # live, dead, running, exited
    log_path: str


def merge_rows(records: list[MountRecord], launched: list[LaunchedMount],
               host: str) -> list[MountRow]:
    ours = {m.mountpoint: m for m in launched}
    rows = [MountRow(r.prefix, r.mountpoint, r.read_only, r.host, r.pid, r.started, r.heartbeat,
                     "live" if r.alive else "dead",
                     r.log_path or (ours[r.mountpoint].log_path
                                    if r.host == host and r.mountpoint in ours else ""))
            for r in records]
    known = {(r.host, r.mountpoint) for r in records}
    for m in launched:
        if (host, m.mountpoint) not in known:
            rows.append(MountRow(m.prefix, m.mountpoint, m.read_only, host, m.pid, 0.0, 0.0,
                                 "running" if m.running else "exited", m.log_path))
    return rows


def mountpoint_problem(path: str, allow_nonempty: bool = False) -> str | None:
    """What is wrong with a mountpoint typed in the form, naming it (the form stays
    open with the input), or None; the daemon checks the same again."""
    if not path:
        return "Enter a mountpoint: an existing empty directory."
    try:
        check_mountpoint(os.path.expanduser(path), allow_nonempty=allow_nonempty)
    except MountpointError as exc:
        return str(exc) + ("" if allow_nonempty or "not empty" not in str(exc) else
                           " (or tick 'Mount over files in it')")
    return None


def check_mount_form(values: dict) -> tuple[str, str] | None:
    """The mountpoint checked with the form's nonempty switch (the form stays open)."""
    problem = mountpoint_problem(str(values["mountpoint"]), bool(values["nonempty"]))
    return ("mountpoint", problem) if problem else None


class MountsView(TableView):
    COLUMNS = COLUMNS
    TABLE_ID = "mount-table"
    DETAIL_ID = "mount-help"
    BINDINGS: ClassVar = [
        Binding("m", "mount", "Mount…", id="mounts.mount"),
        Binding("u", "unmount", "Unmount", id="mounts.unmount"),
        Binding("l,enter", "log", "Log", id="mounts.log"),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[MountRow] = []
        self.launched: list[LaunchedMount] = []

    @work(thread=True, exclusive=True, group="mounts", exit_on_error=False, name="List mounts")
    def _load_worker(self) -> None:
        records = list_mounts(self.rfs.client)
        rows = merge_rows(records, self.launched, socket.gethostname())
        self.app.call_from_thread(self.show, rows)

    def show(self, rows: list[MountRow], now: float | None = None) -> None:
        """Fill the table (tests pass fixed rows and clock for stable screenshots)."""
        before = self.selected
        self.rows = rows
        clock = self.rfs.now() if now is None else dt.datetime.fromtimestamp(now, dt.UTC)
        table = self.query_one(DataTable)
        table.clear()
        styles = {"live": "bold green", "running": "green", "dead": "bold red",
                  "exited": "red", "in dump": "dim"}
        if self.rfs.offline:  # records of a dump file: say so, whatever their heartbeat
            rows = self.rows = [dataclasses.replace(r, state="in dump") for r in rows]
        for i, r in enumerate(rows):
            cells = (r.prefix, r.mountpoint, "ro" if r.read_only else "rw", r.host,
                     str(r.pid) if r.pid else "",
                     fmt.age(int(r.started * 1e9), clock) if r.started else "",
                     fmt.age(int(r.heartbeat * 1e9), clock) if r.heartbeat else "")
            table.add_row(Text(r.state, style=styles.get(r.state, "")),
                          *(Text(c) for c in cells), key=str(i))
        if before is not None:  # a refresh keeps the cursor on the same mount
            at = [i for i, r in enumerate(self.rows)
                  if (r.host, r.mountpoint) == (before.host, before.mountpoint)]
            if at:
                table.move_cursor(row=at[0])
        dead = sum(1 for r in rows if r.state in ("dead", "exited"))
        note = (f"{dead} dead mount(s): their open files are released by fsck (repair)."
                if dead else "")
        if self.rfs.offline:
            note = (f"Mount records stored in {self.rfs.offline}: not mounts of this host. "
                    "Offline (--rdb), nothing is mounted or unmounted from here.")
        self.query_one("#mount-help", Static).update(
            note or ("No mounts. Press m to mount a filesystem." if not rows else ""))

    @property
    def selected(self) -> MountRow | None:
        table = self.query_one(DataTable)
        if not 0 <= table.cursor_row < min(len(self.rows), table.row_count):
            return None
        return self.rows[table.cursor_row]

    # -- launch ------------------------------------------------------------------------
    def action_mount(self) -> None:
        if not self.rfs.refuse_offline("Mounting"):
            self._prefixes_worker()

    @work(thread=True, exclusive=True, group="mounts-form", exit_on_error=False,
          name="List filesystems")
    def _prefixes_worker(self) -> None:
        prefixes = [s.prefix for s in list_filesystems(self.rfs.client)]
        self.app.call_from_thread(self._mount_form, prefixes)

    def _mount_form(self, prefixes: list[str], values: dict | None = None,
                    error: str = "") -> None:
        """The mount form; after a failure it comes back with the input and the error
        (as the mkfs and connect forms do)."""
        if not prefixes:
            self.notify("No filesystem to mount: create one first.", severity="warning")
            return
        v = values or {}
        current = self.rfs.current_prefix if self.rfs.current_prefix in prefixes else \
            prefixes[0]
        fields = [Field("prefix", "Filesystem", v.get("prefix", current),
                        options=[(p, p) for p in prefixes]),
                  Field("mountpoint", "Mountpoint (an existing empty directory)",
                        v.get("mountpoint", ""), placeholder="/mnt/redisfs"),
                  Field("read_only", "Read-only", bool(v.get("read_only", False))),
                  Field("nonempty", "Mount over files in it (-o nonempty)",
                        bool(v.get("nonempty", False)))]
        note = "Starts the redisfs daemon; it keeps running after this UI quits."
        self.app.push_screen(FormModal("Mount a filesystem", fields, "Mount", note,
                                       error=error, check=check_mount_form),
                             lambda values: self._mount_answer(prefixes, values))

    def _mount_answer(self, prefixes: list[str], values: dict | None) -> None:
        if values and values["mountpoint"]:
            self._launch_worker(prefixes, values)

    @work(thread=True, exit_on_error=False, name="Mount")
    def _launch_worker(self, prefixes: list[str], values: dict) -> None:
        prefix, mountpoint = str(values["prefix"]), str(values["mountpoint"])
        spec = self.rfs.spec
        url, url_password = split_password(spec.url)
        env = dict(os.environ)
        if spec.password or url_password:
            env[PASSWORD_ENV] = spec.password or url_password or ""
        self.app.call_from_thread(self.notify, f"Mounting {prefix} on {mountpoint}…")
        try:
            mount = launch_mount(url, prefix, mountpoint, bool(values["read_only"]),
                                 spec.username, env=env,
                                 allow_eviction=getattr(self.app, "allow_eviction", False),
                                 allow_nonempty=bool(values["nonempty"]))
        except Exception as exc:  # the form again, with the input (and the notification)
            text = str(exc) if isinstance(exc, MountError) else fmt.error_text(exc)
            self.app.call_from_thread(self._mount_form, prefixes, values,
                                      f"{mountpoint}: {text}")
            raise
        self.launched.append(mount)
        self.app.call_from_thread(self.notify, f"Mounted {prefix} on {mount.mountpoint} "
                                  f"(pid {mount.pid})")
        time.sleep(0.2)  # let the daemon register before listing
        self.app.call_from_thread(self.refresh_view)

    # -- unmount -----------------------------------------------------------------------
    def action_unmount(self) -> None:
        if self.rfs.refuse_offline("Unmounting"):
            return
        row = self.selected
        if row is None:
            self.notify("No mount selected.", severity="warning")
            return
        message = (f"Unmount {row.prefix} from {row.mountpoint} (host {row.host})?\n"
                   "Programs using files there will get errors.")
        self.app.push_screen(ConfirmModal("Unmount", message, "Unmount"),
                             lambda ok: ok and self._unmount_worker(row))

    @work(thread=True, exit_on_error=False, name="Unmount")
    def _unmount_worker(self, row: MountRow) -> None:
        unmount(row.mountpoint, row.host)
        for m in [m for m in self.launched if m.mountpoint == row.mountpoint]:
            if m.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    m.process.wait(timeout=10)
            self.launched.remove(m)
        self.app.call_from_thread(self.notify, f"Unmounted {row.mountpoint}")
        self.app.call_from_thread(self.refresh_view)

    def action_log(self) -> None:
        if self.rfs.refuse_offline("Reading a mount's log file"):
            return
        row = self.selected
        if row is None:
            self.notify("No mount selected.", severity="warning")
        elif not row.log_path:
            self.notify("That mount recorded no log file.", severity="warning")
        else:
            self.app.push_screen(LogScreen(f"{row.prefix} on {row.mountpoint}", row.log_path))
