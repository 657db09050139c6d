"""The Lua scripts that make every multi-key change atomic.

Each script is ``keys.lua_prelude() + common.lua + <name>.lua``.  KEYS[1] is always
the superblock so the call is routed to the filesystem's slot on Cluster; other
keys of the same hash tag are derived inside the script.
"""

from __future__ import annotations

import weakref
from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

from .keys import lua_prelude

SCRIPT_NAMES = (
    "mkfs", "resolve", "mknode", "link", "unlink", "rename", "setattr", "write",
    "truncate", "open", "release", "reap_session", "setxattr", "removexattr", "snap_begin",
    "snap_step", "purge",
)
# scripts that may drop block-map entries reply {reply, pool keys to UNLINK}
FREEING = frozenset(("write", "truncate", "unlink", "rename", "release", "reap_session",
                     "purge"))


@cache
def script_source(name: str) -> str:
    """Full Lua text of one script (also shown by `redisfs-ui` for the curious)."""
    lua = resources.files(__package__) / "lua"
    common = (lua / "common.lua").read_text(encoding="utf-8")
    body = (lua / f"{name}.lua").read_text(encoding="utf-8")
    return lua_prelude() + common + body


class Scripts:
    """Registered scripts for one client; redis-py handles EVALSHA/NOSCRIPT reloads."""

    def __init__(self, client: redis.Redis) -> None:
        for name in SCRIPT_NAMES:
            setattr(self, name, client.register_script(script_source(name)))

    def __getattr__(self, name: str) -> Script:  # for type checkers; set in __init__
        raise AttributeError(name)


_REGISTERED: weakref.WeakKeyDictionary[redis.Redis, Scripts] = weakref.WeakKeyDictionary()


def scripts_for(client: redis.Redis) -> Scripts:
    """The scripts registered for ``client``, once per client: registering hashes all
    of them (~100 us), which every FileSystem() paid before."""
    registered = _REGISTERED.get(client)
    if registered is None:
        registered = _REGISTERED[client] = Scripts(client)
    return registered
