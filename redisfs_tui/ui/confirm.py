"""A yes/no modal in front of every destructive action."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from .nav import keyed


class ConfirmModal(ModalScreen[bool]):
    """Dismisses with True only when the user presses the confirm button (or y)."""

    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Confirm", id="confirm.yes"),
    ]

    def __init__(self, title: str, message: str, confirm_label: str = "Delete",
                 danger: bool = True) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        # a long message scrolls; the buttons stay docked under it (80x24 too)
        with VerticalScroll(classes="dialog form-dialog"):
            with Horizontal(classes="dialog-buttons form-buttons"):
                yield Button(keyed("Cancel", "Esc"), id="cancel")
                yield Button(keyed(self.confirm_label, "y"), id="confirm",
                             variant="error" if self.danger else "primary")
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-body", markup=False)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # the safe choice is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)
