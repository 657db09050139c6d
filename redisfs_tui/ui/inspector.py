"""Inode inspector: the raw Redis keys behind the selected inode.

Shows the inode hash field by field (with a reading of each value), the
directory-entry hash, the xattr hash and every data block with its codec and
compressed/uncompressed size, so a person sees exactly what is stored.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from . import fmt
from .inspect_data import MAX_SCAN_BLOCKS, InodeReport, KeyReport
from .nav import NavScroll


def _key_title(title: str, report: KeyReport) -> Text:
    memory = f", {fmt.size(report.memory)} in Redis" if report.memory is not None else ""
    return Text.assemble((f"{title}  ", "bold"), (report.key, "bold cyan"),
                         (f"  {report.rtype}, {report.length} fields{memory}", "dim"))


def _hash_table(report: KeyReport, headers: tuple[str, ...], limit_note: str = "") -> Table:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim",
                  expand=False, padding=(0, 2, 0, 0))
    for i, h in enumerate(headers):
        table.add_column(h, overflow="fold", no_wrap=i < len(headers) - 1, ratio=None)
    for row in report.fields:
        table.add_row(*(Text(cell) for cell in row[:len(headers)]))
    if limit_note:
        table.caption = limit_note
    return table


def render_report(report: InodeReport) -> RenderableType:
    """All sections as one Rich renderable (built in the worker thread)."""
    parts: list[RenderableType] = [_key_title("inode", report.inode)]
    if report.inode.rtype == "none":
        parts.append(Text("  (no such key: the inode was deleted)", style="italic dim"))
    else:
        parts.append(_hash_table(report.inode, ("field", "raw value", "meaning")))
    if report.orphan:
        parts.append(Text("  listed in the orphans set: unlinked but still open", "yellow"))
    for title, key in (("entries", report.dirents), ("xattrs", report.xattrs)):
        if key is None:
            continue
        parts.append(Text(""))
        parts.append(_key_title(title, key))
        more = (f"first {len(key.fields)} of {key.length}"
                if len(key.fields) < key.length else "")
        headers = ("name", "inode") if title == "entries" else ("name", "value")
        parts.append(_hash_table(key, headers, more))
    if report.block_total:
        parts.append(Text(""))
        parts.append(_blocks(report))
    return Group(*parts)


def _blocks(report: InodeReport) -> RenderableType:
    size = next((int(raw) for name, raw, _ in report.inode.fields if name == "size"), 0)
    holes = report.block_total - report.present
    fetched = sum(1 for b in report.blocks if b.codec != "hole")
    more = f"; first {fetched} stored blocks listed" if fetched < report.present else ""
    if report.block_total > MAX_SCAN_BLOCKS:
        more += f"; only the first {MAX_SCAN_BLOCKS:,} blocks were examined"
    title = Text.assemble(
        ("data blocks  ", "bold"),
        (f"{report.block_total:,} of {fmt.size(report.block_size)} (default codec "
         f"{report.codec}): {report.present:,} stored, {holes:,} holes; "
         f"{fmt.size(report.stored_total)} in Redis for {fmt.size(size)} "
         f"({fmt.ratio(size, report.stored_total)}){more}", "dim"))
    table = Table(box=None, pad_edge=False, header_style="dim", padding=(0, 1, 0, 0))
    table.add_column("#", justify="right", no_wrap=True)
    longest = max((len(b.key) for b in report.blocks if b.codec != "hole"), default=8)
    table.add_column("pool key", style="cyan", overflow="fold", min_width=min(longest, 24))
    table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column("codec", no_wrap=True)
    table.add_column("stored", justify="right", no_wrap=True)
    table.add_column("raw", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right", no_wrap=True)
    blocks = report.blocks
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.codec == "hole":
            j = i
            while j + 1 < len(blocks) and blocks[j + 1].codec == "hole":
                j += 1
            span = str(block.index) if j == i else f"{block.index}-{blocks[j].index}"
            note = "no map entry: zeros" if j == i else f"{j - i + 1:,} without entry: zeros"
            table.add_row(Text(span), Text(note, "dim italic"), Text(""), Text("hole", "dim"),
                          Text("-"), Text("-"), Text(""))
            i = j + 1
            continue
        if block.raw_bytes < 0:  # core could not decode it
            table.add_row(Text(str(block.index)), Text(block.key or block.entry),
                          Text(block.entry.split(".")[0]), Text(block.codec),
                          Text(fmt.size(block.stored_bytes)), Text("damaged", "bold red"),
                          Text("-"))
            i += 1
            continue
        cells = (str(block.index), block.key, block.entry.split(".")[0], block.codec,
                 fmt.size(block.stored_bytes),
                 fmt.size(block.raw_bytes), fmt.ratio(block.raw_bytes, block.stored_bytes))
        table.add_row(*(Text(c) for c in cells))
        i += 1
    return Group(title, table)


class InspectorPane(NavScroll):
    """Scrollable holder of the rendered report."""

    def compose(self):
        yield Static("", id="inspector-body")

    def show(self, renderable: RenderableType | str) -> None:
        self.query_one("#inspector-body", Static).update(renderable)
        self.scroll_home(animate=False)
