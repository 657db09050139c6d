"""fsck: check one filesystem, show the problems as a tree grouped by kind, repair."""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Label, Select, Static, Tree

from ..core import FileSystem
from ..core.fsck import Problem, check, repair
from ..core.registry import list_filesystems
from .confirm import ConfirmModal
from .job_bar import JobHandle
from .nav import NavTree
from .transfer import TransferCancelled
from .view import View

EXPLAIN = {
    "dangling-entry": "a name points to an inode that does not exist",
    "bad-nlink": "the link count disagrees with the names found",
    "bad-parent": "a directory's parent field is wrong",
    "unreachable": "an inode no directory names (adopted into lost+found)",
    "orphan": "unlinked and closed, but its data was never freed",
    "bad-counter": "superblock totals disagree with the inodes",
    "dead-session": "a dead mount still holds files open",
    "corrupt-inode": "an inode hash cannot be parsed",
    "missing-root": "the root directory is missing",
    "multi-linked-dir": "a directory has more than one name",
    "wrong-type": "a key is not a hash (its contents are lost; deleted on repair)",
    "stray-block": "a block map entry past the end of its file",
    "bad-mode": "an inode's mode is not a file mode (reset from what it holds)",
    "missing-blocks": "data blocks are gone: evicted or deleted outside redisfs",
    "stray-map": "a block map of an inode that is not a regular file",
    "bad-entry": "a block map entry that names no block (dropped: a hole)",
    "unreferenced-blocks": "pool blocks no filesystem names (garbage; collected on repair)",
    "stale-snapshot": "a snapshot copy whose maker stopped (the half copy is deleted)",
    "dir-loop": "directories that name each other, cut off from the root",
    "bad-name": "an entry name no path can spell ('.', '..', '/', NUL, empty)",
    "root-entry": "an entry names the root directory",
    "dead-mount": "the record of a mount that stopped without unmounting",
}


class FsckView(View):
    BINDINGS: ClassVar = [
        Binding("f", "check", "Check", id="fsck.check"),
        Binding("R", "repair", "Repair", id="fsck.repair"),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.problems: list[Problem] = []
        self.checked_prefix = ""
        self.wanted: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="fsck-bar"):
            yield Label("Filesystem ")
            yield Select([], id="fsck-prefix", prompt="choose a filesystem", compact=True)
            yield Button("Check (f)", id="fsck-check", variant="primary", compact=True)
            yield Button("Repair (R)", id="fsck-repair", variant="error", disabled=True,
                         compact=True)
        yield NavTree("No check run yet: choose a filesystem and press f", id="fsck-tree")
        yield Static("", id="fsck-summary")

    def on_mount(self) -> None:
        self.query_one(Tree).show_root = True
        self.refresh_view()

    def focus_main(self) -> None:
        self.query_one(Tree).focus()

    def refresh_view(self) -> None:
        self._prefixes_worker()

    def auto_refresh(self) -> None:
        """Nothing periodic: the results are those of the last check, and re-filling the
        filesystem list would close it under the user."""

    @work(thread=True, exclusive=True, group="fsck-list", exit_on_error=False,
          name="List filesystems")
    def _prefixes_worker(self) -> None:
        prefixes = [s.prefix for s in list_filesystems(self.rfs.client)]
        self.app.call_from_thread(self._set_prefixes, prefixes)

    def _set_prefixes(self, prefixes: list[str]) -> None:
        current = self.wanted or self.prefix or self.rfs.current_prefix
        select = self.query_one("#fsck-prefix", Select)
        select.set_options([(p, p) for p in prefixes])
        if current in prefixes:
            select.value = current
        self.wanted = None

    def select_prefix(self, prefix: str) -> None:
        """Preselect ``prefix`` (from the Filesystems view or the command palette)."""
        self.wanted = prefix
        self.refresh_view()

    @property
    def prefix(self) -> str | None:
        value = self.query_one("#fsck-prefix", Select).value
        return value if isinstance(value, str) else None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "fsck-check":
            self.action_check()
        elif event.button.id == "fsck-repair":
            self.action_repair()

    @on(Select.Changed, "#fsck-prefix")
    def prefix_changed(self) -> None:
        if self.prefix != self.checked_prefix:
            self.problems = []
            self.query_one("#fsck-repair", Button).disabled = True

    # -- check -------------------------------------------------------------------------
    def action_check(self) -> None:
        prefix = self.prefix
        if prefix is None:
            self.notify("Choose a filesystem to check.", severity="warning")
            return
        handle = self.rfs.new_job(f"Checking {prefix}")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._check_worker(handle, prefix))

    @work(thread=True, exit_on_error=False, name="fsck", group="job")
    def _check_worker(self, handle: JobHandle, prefix: str) -> None:
        fs = FileSystem(self.rfs.client, prefix)

        def progress(note: str) -> None:
            if handle.cancelled():
                raise TransferCancelled(note)
            handle.note(note)

        try:
            problems = check(fs, progress=progress)
        except TransferCancelled:
            self.app.call_from_thread(self.notify, "Check cancelled", severity="warning")
            return
        self.app.call_from_thread(self.show, prefix, problems)

    def show(self, prefix: str, problems: list[Problem]) -> None:
        self.problems, self.checked_prefix = problems, prefix
        tree = self.query_one(Tree)
        tree.clear()
        fixable = sum(1 for p in problems if p.repairable)
        if not problems:
            tree.root.set_label(Text(f"{prefix}: clean, no problems found", style="bold green"))
        else:
            tree.root.set_label(Text(f"{prefix}: {len(problems)} problems, {fixable} repairable",
                                     style="bold yellow"))
            groups: dict[str, list[Problem]] = defaultdict(list)
            for p in problems:
                groups[p.kind].append(p)
            for kind, items in sorted(groups.items()):
                node = tree.root.add(Text.assemble((f"{kind} ", "bold"), (f"({len(items)}) ",),
                                                   (EXPLAIN.get(kind, ""), "dim")), expand=True)
                for p in items:
                    tag = Text(" repairable", "green") if p.repairable else Text(" manual", "red")
                    where = f"inode {p.ino}: " if p.ino else ""
                    node.add_leaf(Text.assemble(where, p.detail, tag))
        tree.root.expand()
        self.query_one("#fsck-repair", Button).disabled = fixable == 0
        self.query_one("#fsck-summary", Static).update(
            "Press R to repair (asks first)." if fixable else "")

    # -- repair ------------------------------------------------------------------------
    def action_repair(self) -> None:
        fixable = [p for p in self.problems if p.repairable]
        if not fixable or self.checked_prefix != self.prefix:
            self.notify("Run a check first; nothing to repair yet.", severity="warning")
            return
        message = (f"Apply {len(fixable)} repairs to {self.checked_prefix}?\n"
                   "Run it while nothing writes to the filesystem (unmount it first).")
        self.app.push_screen(ConfirmModal("Repair", message, "Repair"),
                             lambda ok: ok and self._repair_worker(self.checked_prefix, fixable))

    @work(thread=True, exit_on_error=False, name="Repair")
    def _repair_worker(self, prefix: str, problems: list[Problem]) -> None:
        fs = FileSystem(self.rfs.client, prefix)
        fixed = repair(fs, problems)
        remaining = check(fs)
        self.app.call_from_thread(self.notify, f"Repaired {fixed} problems; "
                                  f"{len(remaining)} remain")
        self.app.call_from_thread(self.show, prefix, remaining)
