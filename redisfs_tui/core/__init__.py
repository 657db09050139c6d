"""Storage core: a POSIX filesystem in Redis.  Imports neither FUSE nor Textual."""

from .attrs import NAME_MAX, ROOT_INO, Attr
from .connection import ServerSpec, connect, redacted
from .data import Version
from .errors import FsError, NoSuchFilesystem, RedisUnavailable, UnsupportedFormat
from .fs import (
    FORMAT_VERSION,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    XATTR_CREATE,
    XATTR_REPLACE,
    FileSystem,
)
from .keys import Keys

__all__ = [
    "FORMAT_VERSION", "NAME_MAX", "RENAME_EXCHANGE", "RENAME_NOREPLACE", "ROOT_INO",
    "XATTR_CREATE", "XATTR_REPLACE", "Attr", "FileSystem", "FsError", "Keys",
    "NoSuchFilesystem", "RedisUnavailable", "ServerSpec", "UnsupportedFormat", "Version",
    "connect",
    "redacted",
]
