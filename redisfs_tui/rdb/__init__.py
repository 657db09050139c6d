"""Pure RDB (Redis dump file) reading and writing.  Imports no Redis client."""

from .crc64 import crc64
from .model import RdbEntry, RdbError, RdbFile
from .reader import read_rdb
from .writer import write_rdb

__all__ = ["RdbEntry", "RdbError", "RdbFile", "crc64", "read_rdb", "write_rdb"]
