"""Migration from the original C redisfs: its tree (one string key per attribute, sets
of child inode numbers, raw file contents) read from a server or a dump and written
into a new filesystem through the public API, with a report of everything it found."""

from .migrate import migrate
from .plan import Report
from .source import DumpSource, LegacySource, ServerSource

__all__ = ["DumpSource", "LegacySource", "Report", "ServerSource", "migrate"]
