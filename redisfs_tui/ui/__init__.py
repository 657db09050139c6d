"""Textual explorer over core: server, filesystems, browser, mounts and fsck views.

The app lives in :mod:`redisfs_tui.ui.app`; modules without Textual (fmt, entries,
preview_data, inspect_data, transfer, mount_control) hold the logic the views run
in worker threads.
"""
