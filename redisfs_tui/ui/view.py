"""Base class of the app's views: worker errors become notifications, never tracebacks."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.containers import Container
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState, get_current_worker

from . import fmt
from .nav import NavTable

REPEAT_SECONDS = 60.0  # the same error of a view's reload is notified at most this often
LOAD_GROUPS = frozenset({"server", "filesystems", "mounts", "browser-dir", "fsck-list"})

if TYPE_CHECKING:
    from .app import RedisFsApp


class View(Container):
    """A tab of the main screen.  Subclasses run Redis calls in thread workers."""

    _last_error: tuple[str, float] | None = None  # (text, monotonic time) last notified

    @property
    def rfs(self) -> RedisFsApp:
        """The app, typed (``self.app`` is typed as a plain App)."""
        return cast("RedisFsApp", self.app)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        bar = self.rfs.job_bar
        if event.worker.is_finished and bar.worker is event.worker:
            bar.end()
            if event.state is WorkerState.CANCELLED:
                self.notify(f"{event.worker.name or 'Job'} cancelled", severity="warning")
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            text = fmt.error_text(event.worker.error)
            now = time.monotonic()
            # the periodic refresh may fail the same way every few seconds: say it once
            # (an action the user asked for always answers)
            if event.worker.group not in LOAD_GROUPS or self._last_error is None or \
                    self._last_error[0] != text or now - self._last_error[1] > REPEAT_SECONDS:
                self.notify(text, title=event.worker.name or "Error", severity="error",
                            timeout=8)
                self._last_error = (text, now)
            self.worker_failed(event.worker)

    def ask(self, screen: ModalScreen[bool]) -> bool:
        """From a thread worker: show a confirmation and wait for the answer (False when
        the worker is cancelled meanwhile)."""
        answers: list[bool] = []
        answered = threading.Event()

        def done(ok: bool | None) -> None:
            answers.append(bool(ok))
            answered.set()

        self.app.call_from_thread(self.app.push_screen, screen, done)
        worker = get_current_worker()
        while not answered.wait(0.1):
            if worker.is_cancelled:
                return False
        return answers[0]

    def worker_failed(self, worker: Worker) -> None:
        """Hook: undo 'loading…' states when a worker fails."""

    def refresh_view(self) -> None:
        """Reload everything the view shows (ctrl+r, and after changes elsewhere)."""

    def auto_refresh(self) -> None:
        """The periodic refresh of the visible view (the app's clock tick): by default
        what ctrl+r does; views whose reload would disturb the user do less."""
        self.refresh_view()

    def focus_main(self) -> None:
        """Put focus on the view's main widget when its tab is selected."""
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return


class TableView(View):
    """A view whose main widget is a row-cursor table with a detail line under it;
    subclasses name the columns and load rows in ``_load_worker``."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    TABLE_ID: ClassVar[str] = ""
    DETAIL_ID: ClassVar[str] = ""

    def compose(self) -> ComposeResult:
        yield NavTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        yield Static("", id=self.DETAIL_ID)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title in self.COLUMNS:
            table.add_column(title, key=title)
        self.refresh_view()

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    def refresh_view(self) -> None:
        self._load_worker()

    def _load_worker(self) -> None:
        raise NotImplementedError
