"""Command palette entries (ctrl+p) for every action of every view."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import RedisFsApp


@dataclass(frozen=True)
class Command:
    title: str
    help: str
    tab: str  # the view that owns the action ("" for app-wide)
    action: str  # method name without the action_ prefix


COMMANDS: list[Command] = [
    Command("Show server", "Server version, memory and persistence", "server", ""),
    Command("Connect to another server", "Open a Redis URL", "server", "connect"),
    Command("Show filesystems", "Every filesystem on this server", "filesystems", ""),
    Command("Open filesystem", "Browse the selected filesystem", "filesystems", "open"),
    Command("New filesystem (mkfs)", "Create an empty filesystem", "filesystems", "mkfs"),
    Command("Delete filesystem", "Delete every key of the selected filesystem", "filesystems",
            "delete"),
    Command("Snapshot filesystem", "Point-in-time copy inside Redis", "filesystems", "snapshot"),
    Command("Restore snapshot", "Replace a filesystem with a snapshot", "filesystems",
            "restore"),
    Command("Diff filesystems", "What changed between two filesystems", "filesystems", "diff"),
    Command("Upgrade to format 2…", "Convert a format 1 filesystem to the block pool format",
            "filesystems", "upgrade"),
    Command("Collect garbage…", "Delete the pool blocks no filesystem or snapshot references",
            "filesystems", "gc"),
    Command("Migrate from C redisfs…", "Convert a tree of the original C redisfs into a new "
            "filesystem", "filesystems", "migrate"),
    Command("Show browser", "The file browser", "browser", ""),
    Command("Filter names", "Show only names containing some text", "browser", "filter"),
    Command("Change sort order", "Cycle name / size / modified", "browser", "cycle_sort"),
    Command("Reverse sort", "Flip the sort direction", "browser", "reverse_sort"),
    Command("Inspect inode", "Raw Redis keys of the selected entry", "browser",
            "toggle_inspector"),
    Command("New directory", "Create a directory here", "browser", "mkdir"),
    Command("Rename", "Rename the selected entry", "browser", "rename"),
    Command("Delete", "Delete the selected entry (asks first)", "browser", "delete"),
    Command("Change permissions (chmod)", "Set octal permissions", "browser", "chmod"),
    Command("Copy out to local disk", "Copy the selected file or tree", "browser", "copy_out"),
    Command("Copy in from local disk", "Copy local files here", "browser", "copy_in"),
    Command("Select all", "Select every entry shown; again: none (* or ctrl+a)", "browser",
            "select_all"),
    Command("Select a range", "From the cursor row: moving extends it (v)", "browser",
            "select_range"),
    Command("Copy inside the filesystem", "Copy the selection to a path", "browser",
            "copy_within"),
    Command("Move to a directory", "Move the selection to a path", "browser", "move"),
    Command("View in $PAGER", "The whole file in your pager", "browser", "view"),
    Command("Edit in $EDITOR", "Edit the file; saved back if changed", "browser", "edit"),
    Command("Find by name", "Search every directory of the filesystem", "browser", "find"),
    Command("Go to path", "Open a directory or file by its path (ctrl+g or :)", "browser", "goto"),
    Command("Size of directory (du)", "Recursive size, with progress", "browser", "usage"),
    Command("Show mounts", "Live mounts of every filesystem", "mounts", ""),
    Command("Mount a filesystem", "Start the redisfs daemon", "mounts", "mount"),
    Command("Unmount", "Unmount the selected mount (asks first)", "mounts", "unmount"),
    Command("Show mount log", "The selected mount's log", "mounts", "log"),
    Command("Show fsck", "Consistency check", "fsck", ""),
    Command("Check filesystem (fsck)", "Find inconsistencies", "fsck", "check"),
    Command("Repair filesystem", "Apply fsck repairs (asks first)", "fsck", "repair"),
    Command("Refresh", "Reload the current view", "", "refresh"),
    Command("Cancel job", "Stop the running copy, delete or check", "", "cancel_job"),
    Command("Help", "Every key binding", "", "help"),
]


class RedisFsCommands(Provider):
    """Every view action, so everything is reachable without remembering keys."""

    def _run(self, command: Command) -> None:
        app = cast("RedisFsApp", self.app)
        app.run_command(command.tab, command.action)

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(command.title, partial(self._run, command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), partial(self._run, command),
                          text=command.title, help=command.help)
