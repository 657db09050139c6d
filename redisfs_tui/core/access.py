"""What the Redis user may do, found out before mounting.

A missing permission should be one clear message at mount time ("user alice may not
run EVALSHA: grant +@scripting or mount --read-only"), not EACCES on the first write
an hour later.  ACL checks a script call only as EVALSHA plus its declared keys; the
commands inside are checked as they run, so those are asked of
``redis.acl_check_cmd`` in a probe script, which neither writes nor fills the ACL log.
"""

from __future__ import annotations

import redis

from .errors import translated
from .keys import Keys, block_key

NO_SHA = "0" * 40  # EVALSHA of a script nobody loaded: NOSCRIPT if allowed, NOPERM if not

# what the filesystem scripts run inside (lua/*.lua, snapshot's COPY aside), with
# arguments of the right shape: acl_check_cmd checks the arity and the keys too
_F, _V = "f", "1"
SCRIPT_COMMANDS = (
    ("HSET", "k", _F, _V), ("HDEL", "k", _F), ("HINCRBY", "k", _F, _V), ("DEL", "k"),
    ("SET", "k", _V), ("SADD", "o", _V), ("SREM", "o", _V), ("EXISTS", "k"), ("GET", "k"),
    ("HGET", "k", _F), ("HGETALL", "k"), ("HMGET", "k", _F), ("HEXISTS", "k", _F),
    ("STRLEN", "k"), ("DBSIZE",), ("SCAN", "0"),
)
PROBE = """
local denied = {}
for i = 1, #ARGV, 2 do
  local args = {}
  for word in string.gmatch(ARGV[i + 1], '%S+') do
    if word == 'k' then word = KEYS[1] elseif word == 'o' then word = KEYS[2] end
    args[#args + 1] = word
  end
  if not redis.acl_check_cmd(ARGV[i], unpack(args)) then denied[#denied + 1] = ARGV[i] end
end
return denied
"""


class AccessDenied(Exception):
    """The Redis user lacks a permission the mount needs; the message says which."""


def _denied(user: str, exc: redis.ResponseError, command: str, grant: str, keys: Keys) -> str:
    if "key" in str(exc):
        return (f"user {user} may not access the keys of filesystem {keys.prefix!r}: "
                f"grant ~{keys.base}*")
    return f"user {user} may not run {command}: grant {grant}"


def check_access(client: redis.Redis, keys: Keys, *, read_only: bool, user: str) -> None:
    """Raise AccessDenied naming what ``user`` lacks for a mount of ``keys.prefix``."""
    rw = " or mount --read-only"
    with translated():
        try:
            pool = client.hget(keys.superblock, "pool")
        except redis.exceptions.NoPermissionError as exc:
            raise AccessDenied(_denied(user, exc, "HGETALL", "+@read", keys)) from None
        if pool is not None:  # format 2: the data blocks live in the pool's own keys
            name = pool.decode(errors="replace")
            try:
                client.exists(block_key(name, "0" * 16))
            except redis.exceptions.NoPermissionError:
                raise AccessDenied(f"user {user} may not read the data blocks of filesystem "
                                   f"{keys.prefix!r}: grant ~{{pool:{name}.*}}:* too (its "
                                   "snapshots share them)") from None
        if read_only:
            return
        for command in ("EVALSHA", "EVAL"):  # EVAL: when the server lost its scripts
            try:
                if command == "EVALSHA":
                    client.evalsha(NO_SHA, 1, keys.superblock)
                else:
                    client.eval("return 0", 1, keys.superblock)
            except redis.exceptions.NoScriptError:
                pass
            except redis.exceptions.NoPermissionError as exc:
                raise AccessDenied(_denied(user, exc, command, "+@scripting" + rw, keys)) \
                    from None
        args = [word for name, *rest in SCRIPT_COMMANDS for word in (name, " ".join(rest))]
        try:
            denied = client.eval(PROBE, 2, keys.inode(1), keys.orphans, *args)
        except redis.exceptions.NoPermissionError as exc:
            raise AccessDenied(_denied(user, exc, "EVAL", "+@scripting" + rw, keys)) from None
        except redis.ResponseError:
            return  # no acl_check_cmd before Redis 7: the scripts will say it themselves
    if denied:
        names = ", ".join(name.decode() if isinstance(name, bytes) else str(name)
                          for name in denied)
        raise AccessDenied(f"user {user} may not run {names} inside the filesystem's "
                           f"scripts: grant +@write +@read{rw}")
