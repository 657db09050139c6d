"""The directory listing: a virtual list that stays fast with 100k entries.

Built on the Line API (ScrollView): only the rows on screen are drawn, each
row's cells are formatted the first time it is shown, and sorting/filtering
work on a plain Python list.  Line 0 is a fixed header; clicking a column
title sorts by it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .entries import Entry, SortKey, filter_entries, sort_entries

# (title, width, sort key clicking the title selects); name takes the rest
COLUMNS: list[tuple[str, int, SortKey | None]] = [
    ("inode", 5, None), ("mode", 10, None), ("links", 5, None), ("owner", 8, None),
    ("size", 9, SortKey.SIZE), ("modified", 14, SortKey.MTIME),
]
DROP_ORDER = ("owner", "links", "inode", "mode")  # dropped first when narrow
MIN_NAME = 18


def fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut ``text`` to exactly ``width`` cells (an ellipsis marks a cut)."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


class EntryList(ScrollView, can_focus=True):
    """Rows of a directory with a cursor; posts Highlighted / Opened / GoUp messages."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "entry-list--header", "entry-list--cursor", "entry-list--dir", "entry-list--link",
        "entry-list--exec", "entry-list--special", "entry-list--dim", "entry-list--marked",
    }
    BINDINGS: ClassVar = [
        Binding("up,k", "move(-1)", "Up", show=False, id="list.up"),
        Binding("down,j", "move(1)", "Down", show=False, id="list.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list.page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="list.page-down"),
        Binding("g,home", "jump(0)", "Top", show=False, id="list.top"),
        Binding("G,end", "jump(-1)", "Bottom", show=False, id="list.bottom"),
        Binding("enter,right,l", "open", "Open", show=False, id="list.open"),
        Binding("backspace,left,h", "go_up", "Parent", show=False, id="list.parent"),
        Binding("space", "toggle_mark", "Select", id="list.select"),
        Binding("v", "visual", "Select range", id="list.select-range"),
        Binding("shift+down", "extend(1)", "Select down", show=False, id="list.extend-down"),
        Binding("shift+up", "extend(-1)", "Select up", show=False, id="list.extend-up"),
        Binding("asterisk,ctrl+a", "mark_all", "Select all", id="list.select-all"),
    ]
    DEFAULT_CSS = """
    EntryList { overflow-x: hidden; }
    EntryList > .entry-list--header { text-style: bold; color: $text-muted; }
    EntryList > .entry-list--cursor { background: $surface-lighten-2; }
    EntryList:focus > .entry-list--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; }
    EntryList > .entry-list--dir { color: $text-primary; text-style: bold; }
    EntryList > .entry-list--link { color: $text-accent; }
    EntryList > .entry-list--exec { color: $text-success; }
    EntryList > .entry-list--special { color: $text-warning; }
    EntryList > .entry-list--dim { color: $text-muted; }
    EntryList > .entry-list--marked { color: $text-warning; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        def __init__(self, entry: Entry | None) -> None:
            super().__init__()
            self.entry = entry

    class Opened(Message):
        def __init__(self, entry: Entry) -> None:
            super().__init__()
            self.entry = entry

    class MarksChanged(Message):
        """The set of selected (marked) names changed."""

    class GoUp(Message):
        """The user asked for the parent directory."""

    class SortClicked(Message):
        def __init__(self, key: SortKey) -> None:
            super().__init__()
            self.key = key

    def __init__(self, clock: Callable[[], dt.datetime], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock  # ages are drawn against the time of drawing
        self.entries: list[Entry] = []  # everything loaded, sorted
        self.shown: list[Entry] = []  # after the filter
        self.sort_key = SortKey.NAME
        self.reverse = False
        self.filter_text = ""
        self.is_loading = False
        self.max_ino = 1
        self.marked: set[bytes] = set()  # raw names selected with space / v / *
        # range mode (v): the anchor row's name, and what was selected before it began
        self.visual_anchor: bytes | None = None
        self._visual_base: set[bytes] = set()
        self._anchor_at = -1  # the anchor's row in ``shown`` when last seen

    # -- data ------------------------------------------------------------------
    @property
    def current(self) -> Entry | None:
        return self.shown[self.cursor] if 0 <= self.cursor < len(self.shown) else None

    @property
    def marked_entries(self) -> list[Entry]:
        """The selected entries in listing order (also those the filter hides)."""
        return [e for e in self.entries if e.raw in self.marked]

    def clear_marks(self) -> None:
        """Select nothing (and leave range mode)."""
        if self.marked or self.visual_anchor is not None:
            self.visual_anchor = None
            self.marked = set()
            self.refresh()
            self.post_message(self.MarksChanged())

    def _keep_marks(self) -> None:
        """Forget marks of names no longer listed (deleted or moved meanwhile)."""
        if self.visual_anchor is not None and \
                all(e.raw != self.visual_anchor for e in self.entries):
            self.visual_anchor = None  # the range's anchor went: the range ends
            self.post_message(self.MarksChanged())
        if self.marked:
            present = self.marked & {e.raw for e in self.entries}
            if present != self.marked:
                self.marked = present
                self.post_message(self.MarksChanged())

    def set_entries(self, entries: list[Entry], select: str | None = None) -> None:
        """Replace the listing (a new directory); keep ``select`` under the cursor."""
        self.entries = entries
        self.clear_marks()
        self.max_ino = max((e.attr.ino for e in entries), default=1)
        sort_entries(self.entries, self.sort_key, self.reverse)
        self._refilter(select)

    def replace_sorted(self, entries: list[Entry], key: SortKey, reverse: bool,
                       keep: str | None) -> None:
        """Swap in a list sorted elsewhere (a worker thread) by ``key``/``reverse``.

        If the user changed the sort meanwhile, sort again here.  The cursor
        stays on ``keep`` when that name is present.
        """
        self.entries = entries
        self.max_ino = max((e.attr.ino for e in entries), default=1)
        self._keep_marks()
        if (key, reverse) != (self.sort_key, self.reverse):
            sort_entries(self.entries, self.sort_key, self.reverse)
        self._refilter(keep, announce=False)

    def resort(self) -> None:
        keep = self.current.name if self.current else None
        sort_entries(self.entries, self.sort_key, self.reverse)
        self._refilter(keep, announce=False)

    def set_sort(self, key: SortKey, reverse: bool) -> None:
        self.sort_key, self.reverse = key, reverse
        self.resort()

    def set_query(self, query: str) -> None:
        keep = self.current.name if self.current else None
        self.filter_text = query
        self._refilter(keep)

    def _refilter(self, keep: str | None, announce: bool = True) -> None:
        old = self.current
        self.shown = filter_entries(self.entries, self.filter_text)
        index = 0
        if keep is not None:
            index = next((i for i, e in enumerate(self.shown) if e.name == keep), 0)
        self.virtual_size = Size(0, len(self.shown) + 1)
        self.set_reactive(EntryList.cursor, min(index, max(len(self.shown) - 1, 0)))
        self._scroll_cursor()
        self.refresh()
        if announce or self.current is not old:
            self.post_message(self.Highlighted(self.current))

    def select_name(self, name: str) -> bool:
        for i, entry in enumerate(self.shown):
            if entry.name == name:
                self.cursor = i
                return True
        return False

    # -- cursor ----------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_cursor()
        if self.visual_anchor is not None:
            self._select_range()
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.shown) - 1))

    def _scroll_cursor(self) -> None:
        body = max(self.scrollable_content_region.height - 1, 1)
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, force=True, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, force=True, immediate=True)

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(self.scrollable_content_region.height - 2, 1)

    def action_jump(self, where: int) -> None:
        self.cursor = 0 if where == 0 else len(self.shown) - 1

    def action_toggle_mark(self) -> None:
        """Select or unselect the entry under the cursor and move down (as in mc); this
        ends a range (what it selected stays)."""
        entry = self.current
        if entry is None:
            return
        self.visual_anchor = None
        self.marked ^= {entry.raw}
        self.post_message(self.MarksChanged())
        self.refresh()
        self.cursor += 1

    def action_visual(self) -> None:
        """Range mode on (anchored at the cursor row: moving selects every row between the
        anchor and the cursor, added to what was selected) or off (the selection stays)."""
        if self.visual_anchor is not None:
            self.visual_anchor = None
            self.post_message(self.MarksChanged())
            return
        entry = self.current
        if entry is None:
            return
        self.visual_anchor, self._visual_base = entry.raw, set(self.marked)
        self._anchor_at = self.cursor
        self._select_range()
        self.refresh()

    def _select_range(self) -> None:
        anchor = self._anchor_at
        if not (0 <= anchor < len(self.shown) and self.shown[anchor].raw == self.visual_anchor):
            # re-sorted or refiltered since: look it up once (100k rows: a few ms)
            anchor = next((i for i, e in enumerate(self.shown)
                           if e.raw == self.visual_anchor), -1)
            self._anchor_at = anchor
        if anchor < 0:  # the anchor went away (filtered, deleted): the range ends
            self.visual_anchor = None
        else:
            low, high = sorted((anchor, self.cursor))
            self.marked = self._visual_base | {e.raw for e in self.shown[low:high + 1]}
        self.post_message(self.MarksChanged())

    def action_extend(self, delta: int) -> None:
        """Select the row under the cursor and the one it moves to (shift+up/down)."""
        entry = self.current
        if entry is None:
            return
        self.marked |= {entry.raw}
        self.cursor += delta
        if self.current is not None:
            self.marked |= {self.current.raw}
        self.post_message(self.MarksChanged())
        self.refresh()

    def action_mark_all(self) -> None:
        """Select every entry shown (after the filter); when all are selected, none."""
        self.visual_anchor = None
        shown = {e.raw for e in self.shown}
        if shown and shown <= self.marked:
            self.marked -= shown
        else:
            self.marked |= shown
        self.post_message(self.MarksChanged())
        self.refresh()

    def action_open(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current))

    def action_go_up(self) -> None:
        self.post_message(self.GoUp())

    def on_resize(self) -> None:
        self._scroll_cursor()

    # -- mouse -----------------------------------------------------------------
    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        if "sort" in meta:
            self.post_message(self.SortClicked(SortKey(meta["sort"])))
        elif "row" in meta:
            self.cursor = int(meta["row"])
            if event.chain >= 2:
                self.action_open()

    # -- drawing ---------------------------------------------------------------
    def columns_for(self, width: int) -> list[tuple[str, int, SortKey | None]]:
        """Columns that fit ``width``; the name column gets what is left."""
        digits = max(len(str(self.max_ino)), 5)
        cols = [(t, digits if t == "inode" else w, k) for t, w, k in COLUMNS]
        for drop in DROP_ORDER:
            if width - sum(w + 1 for _, w, _ in cols) >= MIN_NAME:
                break
            cols = [c for c in cols if c[0] != drop]
        return cols

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        cols = self.columns_for(width)
        name_width = max(width - sum(w + 1 for _, w, _ in cols) - 1, 1)
        if y == 0:
            return self._header(cols, name_width, width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.shown):
            if index == 0:
                return self._placeholder(width)
            return Strip.blank(width, self.rich_style)
        return self._row(index, cols, name_width, width, self.clock())

    def _header(self, cols: list, name_width: int, width: int) -> Strip:
        base = self.get_component_rich_style("entry-list--header")
        segments = [Segment(" ", base)]
        arrow = "↓" if self.reverse else "↑"
        for title, w, key in cols:
            label = f"{title}{arrow}" if key is self.sort_key else title
            meta = {"sort": key.value} if key else {}
            right = title in ("inode", "links", "size")
            segments.append(Segment(fit(label, w, right) + " ", base + Style(meta=meta)))
        name_label = "name" + (arrow if self.sort_key is SortKey.NAME else "")
        segments.append(Segment(fit(name_label, name_width), base + Style(meta={"sort": "name"})))
        return Strip(segments, width).adjust_cell_length(width, base)

    def _placeholder(self, width: int) -> Strip:
        dim = self.get_component_rich_style("entry-list--dim")
        if self.is_loading:
            text = "  ⏳ loading…"
        elif self.filter_text:
            text = f"  no name contains {self.filter_text!r}"
        else:
            text = "  (empty directory)"
        return Strip([Segment(fit(text, width), dim)], width)

    def _row(self, index: int, cols: list, name_width: int, width: int,
             now: dt.datetime) -> Strip:
        entry = self.shown[index]
        cells = dict(zip(("size", "modified", "mode", "links", "owner", "inode"),
                         entry.row(now), strict=True))
        base = self.rich_style
        if index == self.cursor:
            base = base + self.get_component_rich_style("entry-list--cursor")
        meta = Style(meta={"row": index})
        dim = self.get_component_rich_style("entry-list--dim", partial=True)
        if entry.raw in self.marked:
            mark = self.get_component_rich_style("entry-list--marked", partial=True)
            base = base + mark
            segments = [Segment("*", base + meta)]
        else:
            segments = [Segment(" ", base + meta)]
        for title, w, _ in cols:
            right = title in ("inode", "links", "size")
            style = base + dim if title in ("inode", "links", "owner") else base
            segments.append(Segment(fit(cells[title], w, right) + " ", style + meta))
        attr = entry.attr
        if attr.is_dir:
            kind = "entry-list--dir"
        elif attr.is_symlink:
            kind = "entry-list--link"
        elif attr.is_reg:
            kind = "entry-list--exec" if attr.mode & 0o111 else ""
        else:
            kind = "entry-list--special"
        name_style = base + self.get_component_rich_style(kind, partial=True) if kind else base
        label = entry.name + ("/" if attr.is_dir else "")
        target = entry.target
        if target is not None:
            used = min(cell_len(label), name_width)
            segments.append(Segment(fit(label, used), name_style + meta))
            segments.append(Segment(fit(f" -> {target}", name_width - used), base + dim + meta))
        else:
            segments.append(Segment(fit(label, name_width), name_style + meta))
        return Strip(segments, width).adjust_cell_length(width, base)
