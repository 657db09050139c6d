"""Preview pane: highlighted text, a hex view for binary, summaries for the rest.

``render_preview`` is pure and runs in the worker thread (highlighting 64 KiB
takes a while); the widget only swaps in the finished Content.
"""

from __future__ import annotations

import datetime as dt

from pygments.lexers import get_lexer_for_filename, guess_lexer
from pygments.util import ClassNotFound
from textual.app import ComposeResult
from textual.content import Content, Span
from textual.css.styles import RulesMap
from textual.highlight import highlight
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
from textual.widgets import Static

from . import fmt
from .nav import NavScroll
from .preview_data import HEX_MAX_ROW, PreviewData, hex_bytes_per_row, hex_line_width, hexdump


def language_for(name: str, text: str) -> str:
    """Pygments language from the file name, or a shebang; plain text otherwise.

    Never runs the slow content-sniffing of every lexer over a large file.
    """
    try:
        return get_lexer_for_filename(name).aliases[0]
    except (ClassNotFound, IndexError):
        pass
    if text.startswith("#!"):
        try:
            return guess_lexer(text[:512]).aliases[0]
        except (ClassNotFound, IndexError):
            pass
    return "text"


def facts_line(data: PreviewData, now: dt.datetime) -> str:
    a = data.attr
    links = f" · {a.nlink} links" if a.nlink > 1 and not a.is_dir else ""
    return (f"inode {a.ino} · {fmt.filemode(a.mode)} · {fmt.owner(a.uid, a.gid)} · "
            f"modified {fmt.age(a.mtime_ns, now)}{links}")


def hex_content(data: bytes, per_row: int = 16) -> Content:
    text = hexdump(data, width=per_row)
    ascii_at = hex_line_width(per_row) - per_row
    spans: list[Span] = []
    start = 0
    for line in text.split("\n"):
        spans.append(Span(start, start + 8, "$text-muted"))
        spans.append(Span(start + ascii_at, start + len(line), "$text-accent"))
        start += len(line) + 1
    return Content(text, spans=spans)


class HexVisual(Visual):
    """A hex dump laid out when the width is known: as many bytes per row as fit
    (never a wrapped row), again on every resize."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._cache: dict[int, Content] = {}

    def content_for(self, width: int) -> Content:
        per_row = hex_bytes_per_row(width)
        if per_row not in self._cache:
            self._cache[per_row] = hex_content(self.data, per_row)
        return self._cache[per_row]

    @property
    def plain(self) -> str:
        return self.content_for(hex_line_width(16)).plain

    def render_strips(self, width: int, height: int | None, style: Style,
                      options: RenderOptions) -> list[Strip]:
        return self.content_for(width).render_strips(width, height, style, options)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return min(container_width, hex_line_width(HEX_MAX_ROW))

    def get_height(self, rules: RulesMap, width: int) -> int:
        return max(1, -(-len(self.data) // hex_bytes_per_row(width)))


def facts_content(facts: list[tuple[str, str]]) -> Content:
    if not facts:
        return Content("")
    width = max(len(k) for k, _ in facts) + 2
    lines = [Content.assemble((f"{k:<{width}}", "bold $text-muted"), v) for k, v in facts]
    return Content("\n").join(lines)


def render_preview(data: PreviewData, now: dt.datetime) -> tuple[Content, Content | Visual]:
    """(header, body) ready to show; safe to call from a thread."""
    header = Content.assemble((data.headline, "bold"), "\n", (facts_line(data, now), "dim"))
    if data.kind == "text":
        if not data.text:
            return header, Content.styled("(empty)", "dim italic")
        name = data.path.rsplit("/", 1)[-1]
        body = highlight(data.text, language=language_for(name, data.text))
    elif data.kind == "binary":
        body = HexVisual(data.data)
    else:
        body = facts_content(data.facts)
    return header, body


class PreviewPane(NavScroll):
    """Header and body of the current preview."""

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-header", markup=False)
        yield Static("", id="preview-body", markup=False)

    def show(self, header: Content | str, body: Content | Visual | str) -> None:
        self.query_one("#preview-header", Static).update(header)
        self.query_one("#preview-body", Static).update(body)
        self.scroll_home(animate=False)

    def clear(self, message: str = "") -> None:
        self.show(Content.styled(message, "dim"), "")
