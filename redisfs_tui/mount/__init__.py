"""FUSE adapter: mounts a redisfs filesystem with mfusepy over ``redisfs_tui.core``.

Importing this package does not load libfuse; ``runner.run`` (via ``redisfs``) does.
"""

from .config import MountConfig

__all__ = ["MountConfig"]
