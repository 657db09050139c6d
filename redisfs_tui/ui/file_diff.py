"""Enter on a row of the diff table: a unified text diff of the file's two versions.

The text is built in a thread worker from both filesystems (the first MAX_BYTES of
each version); a binary file gets a summary with the first differing byte, a symlink
its two targets.
"""

from __future__ import annotations

import difflib
import os
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..core import FileSystem
from . import fmt
from .nav import NavScroll

MAX_BYTES = 1 << 20  # of each version: a diff is for reading, not for gigabytes
MAX_LINES = 20_000


def _content(fs: FileSystem, path: str) -> tuple[bytes, int, str]:
    """The first MAX_BYTES of the file at ``path`` (a symlink: its target), its size and
    its kind; ENOENT and friends propagate (the screen says so)."""
    attr = fs.resolve(os.fsencode(path))
    if attr.is_symlink:
        target = bytes(fs.readlink(attr.ino))
        return target + b"\n", len(target), "symlink"
    if not attr.is_reg:
        return b"", attr.size, fmt.kind(attr.mode)
    return bytes(fs.read(attr.ino, 0, min(attr.size, MAX_BYTES))), attr.size, "file"


def _is_text(data: bytes) -> bool:
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the MAX_BYTES limit is fine
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True


def file_diff(fs_a: FileSystem, fs_b: FileSystem, path: str) -> list[str]:
    """``diff -u`` of ``path`` from ``fs_a`` to ``fs_b``, as lines (no Textual here)."""
    old, old_size, old_kind = _content(fs_a, path)
    new, new_size, new_kind = _content(fs_b, path)
    head = [f"--- {fs_a.prefix}:{path}", f"+++ {fs_b.prefix}:{path}"]
    if old_kind != new_kind or old_kind not in ("file", "symlink"):
        return [*head, f"{old_kind} ({old_size:,} bytes) -> {new_kind} ({new_size:,} bytes)"]
    if not (_is_text(old) and _is_text(new)):
        at = next((i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y),
                  min(len(old), len(new)))
        return [*head, f"Binary files differ: {old_size:,} -> {new_size:,} bytes, first "
                f"difference at byte {at:,}"]
    lines = list(difflib.unified_diff(
        old.decode(errors="replace").splitlines(), new.decode(errors="replace").splitlines(),
        fromfile=f"{fs_a.prefix}:{path}", tofile=f"{fs_b.prefix}:{path}", lineterm="", n=3))
    if not lines:  # the same text: the sizes differ beyond what was read, or only holes
        lines = [*head, "(no difference in the text compared)"]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"… {len(lines) - MAX_LINES:,} more lines"]
    if max(old_size, new_size) > MAX_BYTES:
        lines.append(f"(only the first {fmt.size(MAX_BYTES)} of each version is compared)")
    return lines


STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def render(lines: list[str]) -> Text:
    text = Text(no_wrap=True)
    for line in lines:
        style = next((s for sign, s in STYLES if line.startswith(sign)), "")
        text.append(line + "\n", style=style)
    return text


class FileDiffScreen(ModalScreen[None]):
    """The text diff of one path between two filesystems; Esc or q closes."""

    BINDINGS: ClassVar = [Binding("escape,q", "close", "Close", id="file-diff.close")]

    def __init__(self, a: str, b: str, path: str) -> None:
        super().__init__(classes="modal")
        self.a, self.b, self.path = a, b, path
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label(f"{self.path}: {self.a} -> {self.b}   (Esc closes)",
                    classes="dialog-title", markup=False)
        with NavScroll(id="file-diff-scroll"):
            yield Static("comparing…", id="file-diff", markup=False)

    def on_mount(self) -> None:
        self.query_one("#file-diff-scroll").focus()
        self._diff_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, name="File diff")
    def _diff_worker(self) -> None:
        client = self.app.client  # type: ignore[attr-defined]
        try:
            lines = file_diff(FileSystem(client, self.a, read_only=True),
                              FileSystem(client, self.b, read_only=True), self.path)
        except Exception as exc:  # shown in place: the screen never stays at "comparing"
            lines = [f"Cannot compare {self.path}: {fmt.error_text(exc)}"]
        self.app.call_from_thread(self._show, lines)

    def _show(self, lines: list[str]) -> None:
        self.lines = lines
        self.query_one("#file-diff", Static).update(render(lines))

    def action_close(self) -> None:
        self.dismiss(None)
