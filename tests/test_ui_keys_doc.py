"""Every key of every screen, view and widget is documented: the README's key table is
generated from the real BINDINGS and must be fresh; help.md names every key."""

from __future__ import annotations

import re
from pathlib import Path

from redisfs_tui.ui import keys

ROOT = Path(__file__).resolve().parents[1]


def test_readme_key_table_is_generated_from_the_bindings():
    readme = (ROOT / "README.md").read_text()
    assert keys.START in readme and keys.END in readme
    assert keys.section() in readme, \
        "README key table is stale: run python -m redisfs_tui.ui.keys --write"


def test_every_binding_is_in_the_readme_and_the_help():
    readme = (ROOT / "README.md").read_text()
    help_md = (ROOT / "redisfs_tui" / "ui" / "help.md").read_text()
    in_help = set(re.findall(r"`([^`]+)`", help_md))
    classes = keys.binding_classes()
    names = {c.__name__ for c in classes}
    # the screens and views people use are all found
    assert {"RedisFsApp", "BrowserView", "FilesystemsView", "MountsView", "FsckView",
            "ServerView", "NavTable", "ConfirmModal", "FormModal"} <= names
    missing = []
    for cls in classes:
        for binding in keys.bindings_of(cls):
            assert binding.id, f"{cls.__name__}: binding {binding.key} has no id"
            assert f"`{binding.id}`" in readme, binding.id
            missing += [f"{cls.__name__}: {k} ({binding.description})"
                        for k in keys.keys_of(binding) if k not in in_help]
    assert not missing, f"keys not in help.md: {missing}"
