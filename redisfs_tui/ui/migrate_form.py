"""Migrate from the C redisfs: the form, the job with progress, and the report.

A mixin of the Filesystems view (the migration makes a filesystem).  The report is
shown in a ConfirmModal whose confirm button opens the new filesystem, so this adds
no screen or key of its own.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from textual import work

from ..core.keys import valid_prefix
from ..core.legacy import DumpSource, Report, ServerSource, migrate
from . import fmt
from .confirm import ConfirmModal
from .form import Field, FormModal
from .job_bar import JobHandle

if TYPE_CHECKING:
    from .app import RedisFsApp

SHOWN_LINES = 200  # of the report, in its dialog
NOTE = ("Reads a tree written by the original C redisfs (keys PREFIX:INODE:*, "
        "PREFIX:DIRENT:*; it is left as it is) and writes it into a new filesystem, all or "
        "nothing.  Unmount the C redisfs first.")


def _check_target(value: str) -> str | None:
    return None if valid_prefix(value) else "use 1-64 characters from A-Z a-z 0-9 _ . -"


def _check_source(value: str) -> str | None:
    return None if value else "the C redisfs prefix (its --prefix; default skx)"


class MigrateMixin:
    """``action_migrate`` for the Filesystems view."""

    rfs: RedisFsApp

    def action_migrate(self, values: dict | None = None, error: str = "") -> None:
        """The form; after a failure it comes back with the input and the error."""
        v = values or {}
        fields = [Field("source", "C redisfs prefix", v.get("source", "skx"),
                        validate=_check_source),
                  Field("target", "New filesystem prefix", v.get("target", ""),
                        validate=_check_target),
                  Field("rdb", "Read from RDB dump file (empty: this server)",
                        v.get("rdb", ""), placeholder="/var/lib/redis/dump.rdb")]
        self.rfs.push_screen(FormModal("Migrate from C redisfs", fields, "Migrate", NOTE,
                                       error=error), self._migrate_answer)

    def _migrate_answer(self, values: dict | None) -> None:
        if not values:
            return
        values = {k: str(v) for k, v in values.items()}
        handle = self.rfs.new_job(f"Migrating {values['source']} -> {values['target']}",
                                  unit="entries")
        if handle is not None:
            self.rfs.job_bar.begin(handle.title, self._migrate_worker(values, handle))

    @work(thread=True, exit_on_error=False, name="Migrate", group="job")
    def _migrate_worker(self, values: dict[str, str], handle: JobHandle) -> None:
        client = self.rfs.client
        source = (DumpSource(values["rdb"], values["source"]) if values["rdb"]
                  else ServerSource(client, values["source"]))
        try:
            report = migrate(client, source, values["target"], progress=handle.progress,
                             cancelled=handle.cancelled)
        except OSError as exc:
            if exc.errno == errno.ECANCELED:
                self.rfs.call_from_thread(self.rfs.notify, "Migration cancelled: nothing "
                                          "was kept", severity="warning")
                return
            self.rfs.call_from_thread(self.action_migrate, values, fmt.error_text(exc))
            raise
        self.rfs.call_from_thread(self._migrated, report)

    def _migrated(self, report: Report) -> None:
        problems = f", {len(report.problems)} problem(s)" if report.problems else ""
        self.rfs.notify(f"Migrated into {report.target}{problems}")
        self.rfs.view("filesystems").refresh_view()
        lines = report.lines()
        if len(lines) > SHOWN_LINES:  # thousands of problems: the CLI prints them all
            lines = [*lines[:SHOWN_LINES], f"  … {len(lines) - SHOWN_LINES:,} more: "
                     f"redisfs-migrate --dry-run lists them all"]
        text = "\n".join(lines) + f"\n\nOpen {report.target} in the browser?"
        self.rfs.push_screen(ConfirmModal("Migration report", text, "Open", danger=False),
                             lambda ok: ok and self.rfs.open_browser(report.target))
