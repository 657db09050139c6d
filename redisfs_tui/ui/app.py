"""The redisfs explorer: a terminal file manager that looks inside Redis.

The app holds the connection and the clock; each tab is a View that runs its
Redis calls in thread workers and reports errors as notifications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker

from ..core import FsError, RedisUnavailable, ServerSpec, connect, redacted
from ..core.guards import EvictingServer, check_eviction
from ..core.registry import server_info
from . import fmt
from .browser import BrowserView
from .commands import RedisFsCommands
from .filesystems_view import FilesystemsView
from .fsck_view import FsckView
from .help_screen import HelpScreen
from .job_bar import JobBar, JobHandle
from .mounts_view import MountsView
from .server_view import ServerView
from .view import View

if TYPE_CHECKING:
    import redis

TABS = ("server", "filesystems", "browser", "mounts", "fsck")
Clock = Callable[[], dt.datetime]
REFRESH_SECONDS = 5.0  # the visible view reloads (and Redis is pinged) this often


class RedisFsApp(App[None]):
    """``client`` is a connected redis.Redis; ``spec`` says how mounts should connect."""

    TITLE = "redisfs"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {RedisFsCommands}
    BINDINGS: ClassVar = [
        Binding("1", "show_tab('server')", "Server", show=False, id="app.tab-server"),
        Binding("2", "show_tab('filesystems')", "Filesystems", show=False,
                id="app.tab-filesystems"),
        Binding("3", "show_tab('browser')", "Browser", show=False, id="app.tab-browser"),
        Binding("4", "show_tab('mounts')", "Mounts", show=False, id="app.tab-mounts"),
        Binding("5", "show_tab('fsck')", "fsck", show=False, id="app.tab-fsck"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="app.refresh"),
        Binding("escape", "cancel_job", "Cancel job", show=False, id="app.cancel-job"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        client: redis.Redis,
        spec: ServerSpec,
        *,
        server_label: str | None = None,
        server_note: str = "",
        prefix: str | None = None,
        start_tab: str | None = None,
        clock: Clock | None = None,
        notices: tuple[str, ...] = (),
        alerts: tuple[str, ...] = (),
        allow_eviction: bool = False,
        offline: str | None = None,
        refresh_seconds: float | None = REFRESH_SECONDS,
    ) -> None:
        super().__init__()
        self.client = client
        self.spec = spec
        self.server_label = server_label or redacted(spec.url)
        self.server_note = server_note
        self.current_prefix = prefix
        self.start_tab = start_tab or ("browser" if prefix else "filesystems")
        self.clock = clock
        self.notices = notices
        self.alerts = alerts  # warnings the user must see (an evicting server)
        self.allow_eviction = allow_eviction
        # --rdb: the dump file shown in a throw-away server; nothing may touch this host
        # (its mount records name other machines' mounts, or this one's, long ago)
        self.offline = offline
        self.refresh_seconds = refresh_seconds  # None: no periodic refresh (screenshots)
        self.disconnected: str | None = None  # why Redis does not answer, while it does not
        self._ping: Worker | None = None
        self._set_sub_title()

    def _set_sub_title(self) -> None:
        self.sub_title = (self.server_label
                          + (f" · offline copy of {self.offline}" if self.offline else "")
                          + (" · DISCONNECTED" if self.disconnected is not None else ""))

    def now(self) -> dt.datetime:
        """The app clock: fixed in tests and screenshots, the real time otherwise."""
        return self.clock() if self.clock else dt.datetime.now(dt.UTC)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="conn-banner")
        with TabbedContent(initial=self.start_tab, id="tabs"):
            with TabPane("1 Server", id="server"):
                yield ServerView(id="server-view")
            with TabPane("2 Filesystems", id="filesystems"):
                yield FilesystemsView(id="filesystems-view")
            with TabPane("3 Browser", id="browser"):
                yield BrowserView(id="browser-view")
            with TabPane("4 Mounts", id="mounts"):
                yield MountsView(id="mounts-view")
            with TabPane("5 fsck", id="fsck"):
                yield FsckView(id="fsck-view")
        yield JobBar(id="job-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#conn-banner").display = False
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self.tick)
        for notice in self.notices:
            self.notify(notice, title="redisfs", timeout=10)
        for alert in self.alerts:
            self.notify(alert, title="Data at risk", severity="warning", timeout=30)
        if self.current_prefix:
            self.browser.open_filesystem(self.current_prefix)
        self.call_after_refresh(self.view(self.start_tab).focus_main)

    # -- views -------------------------------------------------------------------------
    @property
    def browser(self) -> BrowserView:
        return self.query_one(BrowserView)

    @property
    def job_bar(self) -> JobBar:
        return self.query_one(JobBar)

    def view(self, tab: str) -> View:
        return self.query_one(f"#{tab}-view", View)

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.view(tab).focus_main()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "tabs" and event.pane.id in TABS:
            self.view(event.pane.id).focus_main()

    def run_command(self, tab: str, action: str) -> None:
        """Run a view action (from the command palette), showing its tab first."""
        if not tab:
            getattr(self, f"action_{action}")()
            return
        self.action_show_tab(tab)
        if action:
            getattr(self.view(tab), f"action_{action}")()

    def open_browser(self, prefix: str, path: str = "/", select: str | None = None) -> None:
        """Show ``prefix`` at directory ``path`` in the browser, ``select`` under the cursor."""
        self.current_prefix = prefix
        self.action_show_tab("browser")
        self.browser.open_filesystem(prefix, path, select)

    def filesystem_deleted(self, prefix: str) -> None:
        if self.browser.fs is not None and self.browser.fs.prefix == prefix:
            self.browser.close_filesystem()
        if self.current_prefix == prefix:
            self.current_prefix = None

    def filesystem_changed(self, prefix: str) -> None:
        if self.browser.fs is not None and self.browser.fs.prefix == prefix:
            self.browser.navigate("/")

    # -- the clock tick: is Redis there, and the visible view refreshed ------------------
    def tick(self) -> None:
        """Ping Redis in a worker (never twice at once: a hung server must not pile up
        threads); the answer refreshes the visible view or shows the disconnected state."""
        if self._ping is None or self._ping.is_finished:
            self._ping = self._ping_worker(self.client)

    @work(thread=True, group="ping", exit_on_error=False, name="Ping")
    def _ping_worker(self, client: redis.Redis) -> None:
        try:
            server_info(client)
        except RedisUnavailable as exc:
            self.call_from_thread(self._connection_lost, client, fmt.error_text(exc))
            return
        except FsError:
            pass  # it answered (INFO denied by an ACL, say): connected
        except OSError as exc:
            self.call_from_thread(self._connection_lost, client, fmt.error_text(exc))
            return
        self.call_from_thread(self._connection_ok, client)

    def _connection_lost(self, client: redis.Redis, reason: str) -> None:
        if client is not self.client:
            return  # switched servers meanwhile
        first = self.disconnected is None
        self.disconnected = reason
        banner = self.query_one("#conn-banner", Static)
        banner.update(f"⚠ Disconnected from {self.server_label}: {reason}. Retrying every "
                      f"{self.refresh_seconds or REFRESH_SECONDS:g} s; the views show what "
                      "they last read.")
        banner.display = True
        self._set_sub_title()
        if first:
            self.notify(f"Lost the connection to {self.server_label}: {reason}",
                        title="Disconnected", severity="error", timeout=10)

    def _connection_ok(self, client: redis.Redis) -> None:
        if client is not self.client:
            return
        if self.disconnected is not None:
            self.disconnected = None
            self.query_one("#conn-banner").display = False
            self._set_sub_title()
            self.notify(f"Reconnected to {self.server_label}", title="Connected")
            for tab in TABS:
                self.view(tab).refresh_view()
            return
        if len(self.screen_stack) == 1:  # not under a dialog
            self.view(self.active_tab).auto_refresh()

    # -- app actions ---------------------------------------------------------------------
    def refuse_offline(self, what: str) -> bool:
        """True (after saying why) when ``what`` would touch this host in --rdb mode."""
        if not self.offline:
            return False
        self.notify(f"{what} is disabled: this is an offline copy of {self.offline} "
                    "(--rdb), and its mount records are not mounts of this host.",
                    title="Offline", severity="warning", timeout=8)
        return True

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.view(self.active_tab).refresh_view()

    def new_job(self, title: str, unit: str = "bytes") -> JobHandle | None:
        """A handle for a long job, or None (with a warning) while another one runs."""
        if self.job_bar.busy:
            self.notify("Another job is running: wait for it or cancel it (escape).",
                        severity="warning")
            return None
        return JobHandle(self.job_bar, title, unit)

    def action_cancel_job(self) -> None:
        if self.job_bar.cancel():
            self.notify("Cancelling…", severity="warning")

    # -- switching servers ---------------------------------------------------------------
    def connect_to(self, url: str, username: str | None, password_file: str | None,
                   on_error: Callable[[str], None] | None = None) -> None:
        """Switch servers in a worker; a failure is notified and, with ``on_error``, given
        to the caller too (the connect form reopens with the input and the error)."""
        self._connect_worker(url, username, password_file, on_error)

    @work(thread=True, exclusive=True, group="connect", exit_on_error=False, name="Connect")
    def _connect_worker(self, url: str, username: str | None, password_file: str | None,
                        on_error: Callable[[str], None] | None = None) -> None:
        try:
            spec = ServerSpec.from_parts(url=url, username=username, password_file=password_file)
            client = connect(spec)
            warning = check_eviction(client, allow=self.allow_eviction)
        except (OSError, ValueError, EvictingServer) as exc:
            text = str(exc) if isinstance(exc, EvictingServer) else fmt.error_text(exc)
            message = f"Cannot connect to {redacted(url)}: {text}"
            self.call_from_thread(self.notify, message, severity="error", timeout=10)
            if on_error is not None:
                self.call_from_thread(on_error, message)
            return
        self.call_from_thread(self._switch_server, client, spec)
        if warning:
            self.call_from_thread(self.notify, warning, title="Data at risk",
                                  severity="warning", timeout=30)

    def _switch_server(self, client: redis.Redis, spec: ServerSpec) -> None:
        old = self.client
        self.client, self.spec = client, spec
        self.server_label = redacted(spec.url)
        self.server_note = ""
        self.offline = None  # a real server now: its mounts are real
        self.disconnected = None
        self.query_one("#conn-banner").display = False
        self._set_sub_title()
        self.current_prefix = None
        self.browser.close_filesystem()
        for tab in TABS:
            self.view(tab).refresh_view()
        old.close()
        self.notify(f"Connected to {self.server_label}")
