"""redisfs: a POSIX filesystem stored in Redis, with a FUSE daemon and a Textual explorer."""

__version__ = "0.1.0"
