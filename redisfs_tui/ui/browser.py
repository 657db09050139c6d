"""The file browser: listing, breadcrumbs, filter, preview and inode inspector.

Directories load page by page (``fs.readdir_plus``) in a thread worker; the
first page shows at once and the rest merge in while the user already moves
around, so a 100k-entry directory never freezes the UI.  File operations are
in :mod:`.browser_ops` (mixed in).
"""

from __future__ import annotations

import posixpath
import time
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Static, TabbedContent, TabPane
from textual.worker import Worker, get_current_worker

from ..core import ROOT_INO, FileSystem, FsError, UnsupportedFormat
from ..core.search import Found
from . import fmt
from .breadcrumbs import Breadcrumbs
from .browser_ops import BrowserOps
from .entries import Entry, SortKey, sort_entries
from .entry_list import EntryList
from .find_screen import FindScreen
from .form import Field, FormModal
from .inspect_data import inode_report
from .inspector import InspectorPane, render_report
from .preview import PreviewPane, render_preview
from .preview_data import load_preview
from .upgrade_actions import UPGRADE_HOW, offer_upgrade

PAGE = 1000
FLUSH_SECONDS = 0.25  # merge loaded pages into the list at most this often
AUTO_RELOAD_MAX = 20_000  # the periodic refresh re-reads directories up to this size


class BrowserView(BrowserOps):
    """Browse one filesystem.  ``open_filesystem`` picks which."""

    BINDINGS: ClassVar = [
        Binding("slash", "filter", "Filter", id="browser.filter"),
        Binding("s", "cycle_sort", "Sort", id="browser.sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="browser.reverse"),
        Binding("f", "find", "Find", show=False, id="browser.find"),
        Binding("ctrl+g,colon", "goto", "Go to", show=False, id="browser.goto"),
        Binding("i", "toggle_inspector", "Inspect", id="browser.inspect"),
        Binding("n", "mkdir", "New dir", id="browser.mkdir"),
        Binding("r,f2", "rename", "Rename", id="browser.rename"),
        Binding("C", "copy_within", "Copy to", show=False, id="browser.copy-to"),
        Binding("M", "move", "Move to", show=False, id="browser.move-to"),
        Binding("d,delete", "delete", "Delete", id="browser.delete"),
        Binding("c", "chmod", "Chmod", show=False, id="browser.chmod"),
        Binding("u", "usage", "Size", show=False, id="browser.du"),
        Binding("p", "view", "View", show=False, id="browser.pager"),
        Binding("e", "edit", "Edit", show=False, id="browser.editor"),
        Binding("o", "copy_out", "Copy out", show=False, id="browser.copy-out"),
        Binding("a", "copy_in", "Copy in", show=False, id="browser.copy-in"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="browser.clear-filter"),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fs: FileSystem | None = None
        self.path = "/"
        self.dir_ino = ROOT_INO
        self.total = 0
        self.generation = 0
        self._first_page = True
        self._select_pending = False  # navigate's ``select`` not in the pages loaded so far
        self._fallback: str | None = None  # where the cursor waits meanwhile
        self._highlight_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Breadcrumbs(id="crumbs")
        with Horizontal(id="browser-body"):
            with Vertical(id="browser-left"):
                yield EntryList(self.rfs.now, id="entries")
                yield Input(placeholder="filter: type part of a name, Enter keeps it, Esc clears",
                            id="filter")
                yield Static("", id="browser-status")
            with TabbedContent(id="browser-right"):
                with TabPane("Preview", id="tab-preview"):
                    yield PreviewPane(id="preview")
                with TabPane("Inspector", id="tab-inspector"):
                    yield InspectorPane(id="inspector")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(PreviewPane).clear("Open a filesystem from the Filesystems tab (2).")

    @property
    def entry_list(self) -> EntryList:
        return self.query_one(EntryList)

    def focus_main(self) -> None:
        self.entry_list.focus()

    # -- opening and loading -------------------------------------------------------
    def open_filesystem(self, prefix: str, path: str = "/", select: str | None = None) -> None:
        self._open_worker(prefix, path, select)

    @work(thread=True, exclusive=True, group="browser-open", exit_on_error=False,
          name="Open filesystem")
    def _open_worker(self, prefix: str, path: str, select: str | None = None) -> None:
        try:
            fs = FileSystem(self.rfs.client, prefix)
        except UnsupportedFormat as exc:
            if exc.version != 1:
                raise
            self.app.call_from_thread(self._old_format, prefix)  # not a dead end: upgrade
            return
        self.app.call_from_thread(self._opened, fs, path, select)

    def _old_format(self, prefix: str) -> None:
        self.close_filesystem()
        self.query_one(PreviewPane).clear(f"{prefix} has the old on-Redis format 1: to open "
                                          f"it, upgrade it ({UPGRADE_HOW}).")
        offer_upgrade(self.rfs, prefix)

    def _opened(self, fs: FileSystem, path: str, select: str | None = None) -> None:
        self.fs = fs
        self.rfs.current_prefix = fs.prefix
        self.navigate(path, select)

    def close_filesystem(self) -> None:
        """Forget the filesystem (deleted, or another server)."""
        self.fs = None
        self.generation += 1
        self.entry_list.is_loading = False
        self.entry_list.set_entries([])
        self.query_one(Breadcrumbs).update("")
        self.query_one(PreviewPane).clear("Open a filesystem from the Filesystems tab (2).")
        self._status()

    def navigate(self, path: str, select: str | None = None) -> None:
        """Show directory ``path`` (absolute); keep ``select`` under the cursor."""
        if self.fs is None:
            return
        self.generation += 1
        lst = self.entry_list
        lst.is_loading = True
        lst.set_entries([], None)
        self._first_page = True
        self._select_pending = select is not None
        self.path = posixpath.normpath(path) if path != "/" else "/"
        self.query_one(Breadcrumbs).show(self.fs.prefix, self.path)
        self._status("loading…")
        self._load_worker(self.fs, self.path, select, self.generation, lst)

    def auto_refresh(self) -> None:
        """Re-read the directory in the background and swap the result in without
        clearing the list (the cursor stays on its name, the preview is left alone);
        a huge directory only has its ages redrawn."""
        lst = self.entry_list
        if self.fs is None or lst.is_loading or self.total > AUTO_RELOAD_MAX:
            lst.refresh()
            return
        self.generation += 1
        self._first_page = False
        self._select_pending = False
        current = lst.current
        self._quiet_worker(self.fs, self.path, current.name if current else None,
                           self.generation, lst)

    def reload(self, select: str | None = None) -> None:
        current = self.entry_list.current
        self.navigate(self.path, select or (current.name if current else None))

    def refresh_view(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="browser-dir", exit_on_error=False,
          name="Read directory")
    def _load_worker(self, fs: FileSystem, path: str, select: str | None, gen: int,
                     lst: EntryList) -> None:
        self._load(fs, path, select, gen, lst)

    @work(thread=True, exclusive=True, group="browser-dir", exit_on_error=False,
          name="Re-read directory")
    def _quiet_worker(self, fs: FileSystem, path: str, select: str | None, gen: int,
                      lst: EntryList) -> None:
        try:
            self._load(fs, path, select, gen, lst, quiet=True)
        except FsError as exc:  # gone meanwhile: say so in the status line, not every tick
            if gen == self.generation:
                self.app.call_from_thread(self._status, f"could not re-read: "
                                          f"{fmt.error_text(exc)}")

    def _load(self, fs: FileSystem, path: str, select: str | None, gen: int,
              lst: EntryList, quiet: bool = False) -> None:
        """Pages arrive here; the list is sorted in this thread and handed over whole,
        so the UI thread only swaps it in (no long sort on the UI thread).  ``quiet``
        (the periodic refresh) hands over only the complete listing."""
        worker = get_current_worker()
        attr = fs.resolve(path)
        total = fs.count_entries(attr.ino)
        loaded: list[Entry] = []
        last_flush = 0.0
        pages = fs.readdir_plus(attr.ino, page_size=PAGE)
        done = False
        while not done:
            page = next(pages, None)
            done = page is None
            if worker.is_cancelled or gen != self.generation:
                return
            if page:
                loaded.extend(Entry(name, a) for name, a in page)
            # flush the first page at once, then at most every FLUSH_SECONDS (longer for
            # huge directories, where each flush re-sorts everything loaded so far)
            interval = max(FLUSH_SECONDS, len(loaded) / 200_000)
            if done or (not quiet and (not last_flush
                                       or time.monotonic() - last_flush >= interval)):
                key, reverse = lst.sort_key, lst.reverse
                ordered = list(loaded)
                sort_entries(ordered, key, reverse)
                self.app.call_from_thread(self._page, gen, attr.ino, total, ordered, key,
                                          reverse, select, done)
                last_flush = time.monotonic()

    def _page(self, gen: int, ino: int, total: int, entries: list[Entry], key: SortKey,
              reverse: bool, select: str | None, done: bool) -> None:
        if gen != self.generation:
            return
        lst = self.entry_list
        first, self._first_page = self._first_page, False
        self.dir_ino, self.total = ino, total
        current = lst.current.name if lst.current is not None else None
        if self._select_pending and (first or current == self._fallback):
            # the name to select may come in a later page: until it does (and unless the
            # user moved meanwhile) the cursor waits on the first entry
            found = any(e.name == select for e in entries)
            self._select_pending = not found
            keep = select if found else (None if first else current)
        else:
            self._select_pending = False
            keep = select if first or current is None else current
        lst.replace_sorted(entries, key, reverse, keep)
        self._fallback = lst.current.name if lst.current is not None else None
        if done:
            lst.is_loading = False
            lst.refresh()
        self._status()

    def worker_failed(self, worker: Worker) -> None:
        if worker.group == "browser-dir":
            self.entry_list.is_loading = False
            self.entry_list.refresh()
            self._status("could not read this directory")

    def _status(self, note: str = "") -> None:
        lst = self.entry_list
        loaded = len(lst.entries)
        parts = [f"{loaded:,} of {self.total:,} loaded" if lst.is_loading and self.total
                 else f"{len(lst.entries):,} {'entry' if len(lst.entries) == 1 else 'entries'}"]
        if lst.visual_anchor is not None:
            parts.append(f"{len(lst.marked):,} selected · RANGE: move to extend, v ends, "
                         "esc clears")
        elif lst.marked:
            parts.append(f"{len(lst.marked):,} selected (space toggles, v range, * all, "
                         "esc clears)")
        if lst.filter_text:
            parts.append(f"filter {lst.filter_text!r}: {len(lst.shown):,} match")
        parts.append(f"sorted by {lst.sort_key.value} {'↓' if lst.reverse else '↑'}")
        if note:
            parts.append(note)
        self.query_one("#browser-status", Static).update(" · ".join(parts))

    # -- moving around -----------------------------------------------------------------
    def child_path(self, entry: Entry) -> str:
        return posixpath.join(self.path, entry.name)

    @on(EntryList.Opened)
    def opened(self, event: EntryList.Opened) -> None:
        entry = event.entry
        if entry.attr.is_dir:
            self.navigate(self.child_path(entry))
        elif entry.attr.is_symlink:
            link = self.child_path(entry)
            self._go_worker(posixpath.join(posixpath.dirname(link), entry.target or ""))
        else:
            self.query_one(TabbedContent).active_pane.query_one("VerticalScroll").focus()

    @work(thread=True, exclusive=True, group="browser-open", exit_on_error=False,
          name="Go to")
    def _go_worker(self, where: str, typed: str | None = None) -> None:
        """Show ``where``: a directory is opened, anything else selected in its own.
        Typed in the go-to form (``typed``), a failure brings the form back."""
        assert self.fs is not None
        where = posixpath.normpath(where)
        if where.startswith("//"):
            where = "/" + where.lstrip("/")
        try:
            attr = self.fs.resolve(where)
        except FsError as exc:
            if typed is not None:  # the form again, with the input (and the notification)
                self.app.call_from_thread(self.action_goto, typed,
                                          f"{where}: {exc.strerror}")
            raise FsError(exc.errno, f"{where}: {exc.strerror}") from exc
        if attr.is_dir:
            self.app.call_from_thread(self.navigate, where)
        else:
            parent, name = posixpath.split(where)
            self.app.call_from_thread(self.navigate, parent or "/", name)

    def action_goto(self, path: str | None = None, error: str = "") -> None:
        """The go-to form; after a failure it comes back with the input and the error."""
        if self.fs is None:
            self.notify("Open a filesystem first (Filesystems tab).", severity="warning")
            return
        form = FormModal("Go to", [Field("path", "Path (absolute, or relative to "
                                               f"{self.path})",
                                         self.path if path is None else path)], "Go",
                         error=error)
        self.app.push_screen(form, lambda v: v and v["path"] and self._go_worker(
            posixpath.join(self.path, str(v["path"])), str(v["path"])))

    def action_find(self) -> None:
        if self.fs is None:
            self.notify("Open a filesystem first (Filesystems tab).", severity="warning")
            return
        self.app.push_screen(FindScreen(self.fs), self._found)

    def _found(self, found: Found | None) -> None:
        if found is not None:
            self.navigate(found.dir_path, fmt.decode_name(found.name))

    def action_select_all(self) -> None:
        self.entry_list.action_mark_all()

    def action_select_range(self) -> None:
        self.entry_list.action_visual()

    @on(EntryList.MarksChanged)
    def marks_changed(self) -> None:
        self._status()

    @on(EntryList.GoUp)
    def go_up(self) -> None:
        if self.path != "/":
            parent, name = posixpath.split(self.path)
            self.navigate(parent or "/", name)

    @on(Breadcrumbs.Jump)
    def jump(self, event: Breadcrumbs.Jump) -> None:
        if event.path != self.path:
            below = self.path[len(event.path):].strip("/").split("/")[0] or None
            self.navigate(event.path, below)

    # -- sorting and filtering ---------------------------------------------------------
    def action_cycle_sort(self) -> None:
        lst = self.entry_list
        lst.set_sort(lst.sort_key.next(), lst.reverse)
        self._status()

    def action_reverse_sort(self) -> None:
        lst = self.entry_list
        lst.set_sort(lst.sort_key, not lst.reverse)
        self._status()

    @on(EntryList.SortClicked)
    def sort_clicked(self, event: EntryList.SortClicked) -> None:
        lst = self.entry_list
        reverse = not lst.reverse if event.key is lst.sort_key else False
        lst.set_sort(event.key, reverse)
        self._status()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.entry_list.set_query(event.value)
        self._status()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.entry_list.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or box.value:
            box.value = ""
            box.display = False
            self.entry_list.set_query("")
            self.entry_list.focus()
            self._status()
        elif self.app.focused is not self.entry_list and not self.rfs.job_bar.busy:
            self.entry_list.focus()  # back from the preview pane
        elif (self.entry_list.marked or self.entry_list.visual_anchor is not None) \
                and not self.rfs.job_bar.busy:
            self.entry_list.clear_marks()
        else:
            self.rfs.action_cancel_job()

    # -- preview and inspector ---------------------------------------------------------
    def action_toggle_inspector(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "tab-preview" if tabs.active == "tab-inspector" else "tab-inspector"
        self._show_current()

    @on(TabbedContent.TabActivated, "#browser-right")
    def tab_changed(self) -> None:
        self._show_current()

    @on(EntryList.Highlighted)
    def highlighted(self, event: EntryList.Highlighted) -> None:
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
        self._highlight_timer = self.set_timer(0.05, self._show_current)

    def _show_current(self) -> None:
        entry = self.entry_list.current
        if self.fs is None:
            return
        if entry is None:
            if not self.entry_list.is_loading:
                self.query_one(PreviewPane).clear("Nothing selected.")
            return
        if self.query_one(TabbedContent).active == "tab-inspector":
            self._inspect_worker(self.fs, entry)
        else:
            self._preview_worker(self.fs, entry, self.child_path(entry))

    @work(thread=True, exclusive=True, group="browser-preview", exit_on_error=False,
          name="Preview")
    def _preview_worker(self, fs: FileSystem, entry: Entry, path: str) -> None:
        data = load_preview(fs, entry.attr, path)
        header, body = render_preview(data, self.rfs.now())
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one(PreviewPane).show, header, body)

    @work(thread=True, exclusive=True, group="browser-inspect", exit_on_error=False,
          name="Inspect")
    def _inspect_worker(self, fs: FileSystem, entry: Entry) -> None:
        renderable = render_report(inode_report(fs, entry.attr.ino))
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one(InspectorPane).show, renderable)
