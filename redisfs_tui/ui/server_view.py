"""Server view: where we are connected, what the server is, and whether data survives a restart."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ..core.guards import is_evicting
from ..core.registry import ServerInfo, server_info
from . import fmt
from .form import Field, FormModal
from .nav import NavScroll
from .view import View


def warnings(info: ServerInfo) -> list[str]:
    """Things a filesystem owner must know about this server."""
    out = []
    if not info.persisted:
        out.append("Nothing is persisted (no AOF, no RDB snapshots): a restart of this Redis "
                   "loses every filesystem. Turn on AOF: CONFIG SET appendonly yes")
    if not info.rdb_last_bgsave_ok:
        out.append("The last RDB save failed: check the Redis log and free disk space.")
    if info.maxmemory_policy != "?" and is_evicting(info.maxmemory_policy):
        out.append(f"maxmemory-policy is {info.maxmemory_policy}: Redis may evict file data "
                   "when full (files read back with zeroed runs). Use noeviction so a full "
                   "server answers ENOSPC instead: CONFIG SET maxmemory-policy noeviction")
    if info.is_replica:
        out.append("This server is a replica: filesystems are read-only here.")
    return out


def render_info(label: str, info: ServerInfo, note: str, now: dt.datetime) -> RenderableType:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", justify="right")
    table.add_column()
    table.add_row("server", Text(label, style="bold cyan"))
    if note:
        table.add_row("", Text(note, style="dim"))
    role = "master" if info.role == "master" else "replica" if info.is_replica else info.role
    if info.connected_replicas:
        role += f" ({info.connected_replicas} replicas attached)"
    table.add_row("redis", Text(f"{info.version}, {role}"))
    limit = fmt.size(info.maxmemory) if info.maxmemory else "no limit"
    used_share = f" ({info.used_memory / info.maxmemory:.0%})" if info.maxmemory else ""
    table.add_row("memory", Text(f"{fmt.size(info.used_memory)} used of {limit}{used_share}, "
                                 f"policy {info.maxmemory_policy}"))
    save_ns = info.rdb_last_save * 10**9
    table.add_row("RDB", Text(f"last save {fmt.timestamp(save_ns)} ({fmt.age(save_ns, now)}), "
                              f"{info.rdb_changes_since_last_save:,} changes since; "
                              f"save rules: {info.save_config or 'none'}"))
    table.add_row("AOF", Text("on", "green") if info.aof_enabled else Text("off", "yellow"))
    verdict = Text("persisted", "bold green") if info.persisted else \
        Text("NOT persisted", "bold red")
    table.add_row("durability", verdict)
    parts: list[RenderableType] = [table]
    for warning in warnings(info):
        parts += [Text(""), Text(f"⚠ {warning}", style="bold yellow")]
    return Group(*parts)


class ServerView(View):
    """Shows ServerInfo; ``c`` connects to another server."""

    BINDINGS: ClassVar = [
        Binding("c", "connect", "Connect…", id="server.connect"),
    ]

    def compose(self) -> ComposeResult:
        with NavScroll(id="server-scroll", can_focus=True):
            yield Static("loading server information…", id="server-info")

    def on_mount(self) -> None:
        self.refresh_view()

    def focus_main(self) -> None:
        self.query_one("#server-scroll").focus()

    def refresh_view(self) -> None:
        self._load_worker()

    @work(thread=True, exclusive=True, group="server", exit_on_error=False,
          name="Server information")
    def _load_worker(self) -> None:
        info = server_info(self.rfs.client)
        self.app.call_from_thread(self.show, info)

    def show(self, info: ServerInfo) -> None:
        """Display ``info`` (tests pass a normalised copy for stable screenshots)."""
        self.info = info
        body = render_info(self.rfs.server_label, info, self.rfs.server_note, self.rfs.now())
        self.query_one("#server-info", Static).update(body)

    def action_connect(self, values: dict | None = None, error: str = "") -> None:
        """The connect form; after a failure it comes back with the input and the error."""
        v = values or {}
        fields = [
            Field("url", "Redis URL", v.get("url", ""),
                  placeholder="redis://host:6379/0, rediss://…, unix:///…"),
            Field("username", "ACL user (optional)", v.get("username", "")),
            Field("password_file", "Password file (optional)", v.get("password_file", "")),
        ]
        self.app.push_screen(FormModal("Connect to another server", fields, "Connect",
                                       error=error), self._connect_answer)

    def _connect_answer(self, values: dict | None) -> None:
        if values and values["url"]:
            self.rfs.connect_to(str(values["url"]), str(values["username"]) or None,
                                str(values["password_file"]) or None,
                                on_error=lambda error: self.action_connect(values, error))
