"""Confirmation for the most destructive actions: type the name to enable the button."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from .nav import keyed


class TypedConfirmModal(ModalScreen[bool]):
    """Dismisses with True only once ``expected`` has been typed exactly."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="typed-confirm.cancel")]

    def __init__(self, title: str, message: str, expected: str,
                 confirm_label: str = "Delete") -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.message = message
        self.expected = expected
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form-dialog"):  # buttons docked, as in forms
            with Horizontal(classes="dialog-buttons form-buttons"):
                yield Button(keyed("Cancel", "Esc"), id="cancel")
                yield Button(keyed(self.confirm_label, "Enter"), id="confirm", variant="error",
                             disabled=True)
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)
            yield Label(f"Type [b]{self.expected}[/b] to confirm:", markup=True)
            yield Input(placeholder=self.expected, id="typed")

    @on(Input.Changed, "#typed")
    def typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.expected

    @on(Input.Submitted, "#typed")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value == self.expected:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)
