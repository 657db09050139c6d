"""Clickable path of the directory being browsed: demo:/ > src > atlas."""

from __future__ import annotations

from textual.content import Content
from textual.message import Message
from textual.widgets import Static

SEPARATOR = " \u203a "


class Breadcrumbs(Static):
    """Shows ``prefix:/a/b``; clicking a part posts Jump with that path."""

    class Jump(Message):
        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    def __init__(self, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.prefix = ""
        self.path = "/"

    def show(self, prefix: str, path: str) -> None:
        self.prefix, self.path = prefix, path
        parts = [p for p in path.split("/") if p]
        pieces: list[Content | str] = [
            Content.from_markup("[@click=jump(0)][b]$prefix[/b]:/[/]", prefix=prefix)
        ]
        for depth, part in enumerate(parts, start=1):
            pieces.append(Content.styled(SEPARATOR, "dim"))
            crumb = Content.from_markup(f"[@click=jump({depth})]$part[/]", part=part)
            pieces.append(crumb.stylize("bold") if depth == len(parts) else crumb)
        self.update(Content("").join(pieces))

    def action_jump(self, depth: int) -> None:
        parts = [p for p in self.path.split("/") if p][:depth]
        self.post_message(self.Jump("/" + "/".join(parts)))
