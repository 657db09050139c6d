"""The same navigation keys in every table, tree and scrolling pane of the app:
j/k (and the arrows) move, g/Home go to the top, G/End to the bottom (also in the
browser's listing and the find results); Enter acts on the row (each view binds it), Esc
closes a screen or cancels the running job.  "Go to path" is ctrl+g or ':' in the browser."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, OptionList, Tree


def keyed(label: str, key: str) -> Content:
    """A button label that says its key: ``Delete [y]`` (plain text, not markup)."""
    return Content(f"{label} [{key}]")


class NavTable(DataTable):
    """A row table where Home/End (and g/G) move the cursor to the first/last row
    (a plain DataTable scrolls sideways on Home/End)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("g,home", "scroll_top", "Top", show=False, id="table.top"),
        Binding("G,end", "scroll_bottom", "Bottom", show=False, id="table.bottom"),
    ]


class NavTree(Tree):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False, id="tree.up"),
        Binding("j", "cursor_down", "Down", show=False, id="tree.down"),
        Binding("g,home", "scroll_home", "Top", show=False, id="tree.top"),
        Binding("G,end", "scroll_end", "Bottom", show=False, id="tree.bottom"),
    ]


class NavOptionList(OptionList):
    """A list of choices (find results) with the same keys as the tables."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False, id="options.up"),
        Binding("j", "cursor_down", "Down", show=False, id="options.down"),
        Binding("g,home", "first", "Top", show=False, id="options.top"),
        Binding("G,end", "last", "Bottom", show=False, id="options.bottom"),
    ]


SCROLL_BINDINGS: list[BindingType] = [
    Binding("k", "scroll_up", "Up", show=False, id="scroll.up"),
    Binding("j", "scroll_down", "Down", show=False, id="scroll.down"),
    Binding("g", "scroll_home", "Top", show=False, id="scroll.top"),
    Binding("G", "scroll_end", "Bottom", show=False, id="scroll.bottom"),
]


class NavScroll(VerticalScroll):
    """A scrolling pane (server information, preview, inspector, help) with j/k/g/G."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS
