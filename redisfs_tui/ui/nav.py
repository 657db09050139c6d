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


def nav_bindings(scope: str, up: str, down: str, top: str, bottom: str,
                 top_keys: str = "g,home", bottom_keys: str = "G,end") -> list[BindingType]:
    """j/k and top/bottom keys for one kind of widget; ids are ``scope.up`` and so on
    (the README key table is generated from them)."""
    return [
        Binding("k", up, "Up", show=False, id=f"{scope}.up"),
        Binding("j", down, "Down", show=False, id=f"{scope}.down"),
        Binding(top_keys, top, "Top", show=False, id=f"{scope}.top"),
        Binding(bottom_keys, bottom, "Bottom", show=False, id=f"{scope}.bottom"),
    ]


class NavTable(DataTable):
    """A row table where Home/End (and g/G) move the cursor to the first/last row
    (a plain DataTable scrolls sideways on Home/End)."""

    BINDINGS: ClassVar[list[BindingType]] = nav_bindings(
        "table", "cursor_up", "cursor_down", "scroll_top", "scroll_bottom")


class NavTree(Tree):
    BINDINGS: ClassVar[list[BindingType]] = nav_bindings(
        "tree", "cursor_up", "cursor_down", "scroll_home", "scroll_end")


class NavOptionList(OptionList):
    """A list of choices (find results) with the same keys as the tables."""

    BINDINGS: ClassVar[list[BindingType]] = nav_bindings(
        "options", "cursor_up", "cursor_down", "first", "last")


SCROLL_BINDINGS: list[BindingType] = nav_bindings(
    "scroll", "scroll_up", "scroll_down", "scroll_home", "scroll_end", "g", "G")


class NavScroll(VerticalScroll):
    """A scrolling pane (server information, preview, inspector, help) with j/k/g/G."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS
