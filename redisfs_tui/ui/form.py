"""One small modal form for every prompt: names, permissions, URLs, mkfs and mount options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from .nav import keyed

Value = str | bool


@dataclass
class Field:
    """One form field.  ``options`` makes it a Select; a bool ``value`` a Checkbox."""

    name: str
    label: str
    value: Value = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    placeholder: str = ""
    validate: Callable[[str], str | None] | None = None  # returns an error message or None


class FormModal(ModalScreen[dict[str, Value] | None]):
    """Dismisses with {field name: value}, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]

    def __init__(self, title: str, fields: list[Field], submit_label: str = "OK",
                 note: str = "", error: str = "",
                 check: Callable[[dict[str, Value]], tuple[str, str] | None] | None = None
                 ) -> None:
        super().__init__(classes="modal")
        self.error = error  # shown at once: a form reopened after a failure
        # a check of several fields together: (field name, error message) or None
        self.check = check
        self.title_text = title
        self.fields = fields
        self.submit_label = submit_label
        self.note = note

    def compose(self) -> ComposeResult:
        # the dialog scrolls and the buttons are docked under it: on a small terminal
        # (80x24) every field and both buttons stay reachable
        with VerticalScroll(classes="dialog form-dialog"):
            with Horizontal(classes="dialog-buttons form-buttons"):
                yield Button(keyed("Cancel", "Esc"), id="cancel")
                # Enter submits from a text field (a select or checkbox takes Enter itself)
                has_input = any(not f.options and not isinstance(f.value, bool)
                                for f in self.fields)
                label = keyed(self.submit_label, "Enter") if has_input else self.submit_label
                yield Button(label, id="submit", variant="primary")
            yield Label(self.title_text, classes="dialog-title")
            if self.note:
                yield Label(self.note, classes="dialog-body", markup=False)
            for f in self.fields:
                wid = f"field-{f.name}"
                if isinstance(f.value, bool):
                    yield Checkbox(f.label, f.value, id=wid)
                    continue
                yield Label(f.label, classes="field-label")
                if f.options:
                    yield Select(f.options, value=f.value or f.options[0][1], id=wid,
                                 allow_blank=False)
                else:
                    yield Input(str(f.value), placeholder=f.placeholder, id=wid)
            yield Label(self.error, id="form-error", classes="form-error", markup=False)

    def on_mount(self) -> None:
        # the buttons come first in the tree (docked under the fields): focus the first
        # field, or Enter would press Cancel
        if self.fields:
            self.query_one(f"#field-{self.fields[0].name}").focus()

    def values(self) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for f in self.fields:
            widget = self.query_one(f"#field-{f.name}")
            if isinstance(widget, Checkbox):
                out[f.name] = widget.value
            elif isinstance(widget, Select):
                out[f.name] = str(widget.value)
            elif isinstance(widget, Input):
                out[f.name] = widget.value.strip()
        return out

    def submit(self) -> None:
        values = self.values()
        for f in self.fields:
            if f.validate is not None:
                problem = f.validate(str(values[f.name]))
                if problem:
                    self._refuse(f.name, problem)
                    return
        if self.check is not None and (found := self.check(values)):
            self._refuse(*found)
            return
        self.dismiss(values)

    def _refuse(self, name: str, problem: str) -> None:
        """Say what is wrong under the fields; the form stays open with the input."""
        error = self.query_one("#form-error", Label)
        error.update(problem)
        self.query_one(f"#field-{name}").focus()
        error.scroll_visible(animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
