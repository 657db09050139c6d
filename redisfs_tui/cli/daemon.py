"""``redisfs``: mount a filesystem stored in Redis (FUSE daemon).

Seed-compatible flags (``--host --port --mount --read-only --debug --prefix``), a
URL, and the mount-helper form ``redisfs PREFIX MOUNTPOINT -o opt,opt`` that
``mount -t fuse.redisfs`` and fstab use.  A password never stays in the process
arguments: given on the command line (a flag, an -o item or in the URL) it is taken out
by re-executing with the real arguments handed over in a memfd (see hide_password).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..core.connection import PASSWORD_ENV
from ..core.keys import valid_prefix
from .secret_argv import ARGV_FD_ENV, hide_password, scrub_argv

__all__ = ["ARGV_FD_ENV", "build_parser", "config_from_args", "main", "scrub_argv",
           "split_options"]

EPILOG = """\
examples:
  redisfs --host=localhost --port=6379 --mount=/mnt/redis --prefix=skx
  redisfs --url=rediss://user@redis.example:6380/0 --password-file=/etc/redisfs.pw skx /mnt/r
  redisfs skx /mnt/redis -o host=10.0.0.5,allow_other,ro        (mount helper form)
  mount -t fuse.redisfs skx /mnt/redis -o host=10.0.0.5          (needs redisfs on PATH)
  fstab: skx  /mnt/redis  fuse.redisfs  host=10.0.0.5,_netdev,allow_other  0 0
unmount with: fusermount3 -u /mnt/redis   (or umount, or SIGTERM/SIGINT to the daemon)
"""

# -o keys that configure redisfs itself; everything else goes to libfuse / the kernel
VALUE_OPTIONS = {
    "host": "host", "port": "port", "url": "url", "prefix": "prefix", "username": "username",
    "password_file": "password_file", "password": "password", "log_file": "log_file",
    "timeout": "timeout", "cache_ttl": "cache_ttl", "entry_timeout": "entry_timeout",
    "attr_timeout": "attr_timeout", "negative_timeout": "negative_timeout",
    "write_buffer": "write_buffer", "readahead": "readahead",
}
FLAG_OPTIONS = {"ro": "read_only", "read_only": "read_only", "debug": "debug",
                "foreground": "foreground", "mkfs": "mkfs", "allow_eviction": "allow_eviction"}
IGNORED_OPTIONS = {"rw", "_netdev", "nofail", "auto", "noauto", "user", "users", "nouser",
                   "defaults"}


# every option given in seconds (timeouts, cache lifetimes) is at most this
MAX_SECONDS = 86400


MODULE = "redisfs_tui.cli.daemon"  # what hide_password re-executes


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="redisfs", description="Mount a filesystem stored in Redis through FUSE.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("positional", nargs="*", metavar="[PREFIX] MOUNTPOINT",
                   help="filesystem prefix (default skx) and where to mount it")
    p.add_argument("--host", help="Redis host (default localhost)")
    p.add_argument("--port", type=int, help="Redis port (default 6379)")
    p.add_argument("--url", help="redis://, rediss:// or unix:// URL (flags override parts)")
    p.add_argument("--username", help="Redis ACL user")
    p.add_argument("--password", help=f"discouraged: prefer --password-file or ${PASSWORD_ENV}")
    p.add_argument("--password-file", help="file whose first line is the Redis password")
    p.add_argument("--prefix", help="filesystem prefix (default skx)")
    p.add_argument("--mount", help="mountpoint (same as the MOUNTPOINT argument)")
    p.add_argument("--read-only", action="store_true", help="mount read-only; send no writes")
    p.add_argument("--debug", action="store_true", help="log every FUSE call and its result")
    p.add_argument("-f", "--foreground", action="store_true",
                   help="stay attached (default: detach once the mount is live)")
    p.add_argument("--mkfs", action="store_true", help="create the filesystem if it is missing")
    p.add_argument("--allow-eviction", action="store_true",
                   help="mount even though Redis' maxmemory-policy may evict file data")
    p.add_argument("--log-file", help="log here (default when detached: syslog, else "
                   "~/.local/state/redisfs/PREFIX.log)")
    p.add_argument("--entry-timeout", type=float, help="kernel name cache, seconds (1.0)")
    p.add_argument("--negative-timeout", type=float, help="kernel 'no such name' cache (1.0)")
    p.add_argument("--attr-timeout", type=float,
                   help="kernel attribute cache (0: hard links stay exact; see docs/fuse.md)")
    p.add_argument("--cache-ttl", type=float, help="this mount's metadata cache, seconds (1.0)")
    p.add_argument("--timeout", type=float, help="seconds before a Redis call fails with EIO (5)")
    p.add_argument("--write-buffer", type=int, help="bytes buffered per file before sending")
    p.add_argument("--readahead", type=int,
                   help="kernel readahead of the mount in KiB (1024; root only; 0: kernel's)")
    p.add_argument("-s", "--single-threaded", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-o", dest="options", action="append", default=[], metavar="OPT[,OPT...]",
                   help="mount options: redisfs keys (host=, port=, url=, prefix=, username=, "
                        "password_file=, ro, debug, mkfs, allow_eviction, nonempty (mount "
                        "over a directory that has files), ...) and FUSE options "
                        "(allow_other, default_permissions, auto_unmount, ...)")
    p.add_argument("--version", action="version", version=f"redisfs {__version__}")
    return p


def split_options(values: list[str]) -> tuple[dict[str, str | bool], dict[str, str | bool]]:
    """-o strings -> (redisfs settings, FUSE options)."""
    ours: dict[str, str | bool] = {}
    fuse: dict[str, str | bool] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item or item in IGNORED_OPTIONS or item.startswith("x-"):
                continue
            key, has_value, val = item.partition("=")
            if key in VALUE_OPTIONS and has_value:
                ours[VALUE_OPTIONS[key]] = val
            elif key in FLAG_OPTIONS and not has_value:
                ours[FLAG_OPTIONS[key]] = True
            else:
                fuse[key] = val if has_value else True
    return ours, fuse



def config_from_args(args: argparse.Namespace):  # -> MountConfig (imported lazily)
    from ..core import ServerSpec
    from ..core.connection import BadServerSpec, check_url, read_password_file
    from ..mount.config import DEFAULT_PREFIX, MountConfig

    ours, fuse = split_options(args.options)
    positional = list(args.positional)
    if len(positional) > 2:
        raise UsageError(f"too many arguments: {' '.join(positional)}")
    mountpoint = args.mount
    prefix = args.prefix if args.prefix is not None else ours.get("prefix")
    if len(positional) == 2:
        prefix = positional[0] if prefix is None else prefix
        mountpoint = mountpoint or positional[1]
    elif len(positional) == 1:
        if mountpoint:
            prefix = positional[0] if prefix is None else prefix
        else:
            mountpoint = positional[0]
    if not mountpoint:
        raise UsageError("no mountpoint given (--mount=DIR or redisfs PREFIX DIR)")
    prefix = DEFAULT_PREFIX if prefix is None else str(prefix)
    if not prefix:  # an empty --prefix= is a mistake, not a request for the default
        raise UsageError(f"empty prefix: name the filesystem (leave the option out for "
                         f"{DEFAULT_PREFIX!r})")
    if not valid_prefix(prefix):
        raise UsageError(f"invalid prefix {prefix!r}: use 1-64 characters from A-Z a-z 0-9 _ . -")

    def pick(name: str, kind: type, default: object = None) -> object:
        value = getattr(args, name, None)
        if value is None:
            value = ours.get(name, default)
        if value is None:
            return None
        try:
            result = kind(value)
        except ValueError:
            raise UsageError(f"bad value for {name}: {value!r}") from None
        if kind in (int, float) and not 0 <= result < float("inf"):
            raise UsageError(f"{name} must be a number >= 0")
        if kind is float and result > MAX_SECONDS:  # 1e308 s overflows a C timeval
            raise UsageError(f"{name} must be at most {MAX_SECONDS} seconds (a day)")
        return result

    # every value is checked before anything is contacted (or the private server started)
    port = pick("port", int)
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"bad port {port}")
    url, host = pick("url", str), pick("host", str)
    if url == "":
        raise UsageError("empty URL: give redis://HOST:PORT/DB (or leave the option out)")
    seconds = {name: pick(name, float) for name in
               ("entry_timeout", "negative_timeout", "attr_timeout", "cache_ttl", "timeout")}
    if seconds["timeout"] is not None and seconds["timeout"] <= 0:
        raise UsageError("timeout must be positive")
    buffer, readahead = pick("write_buffer", int), pick("readahead", int)
    password_file = pick("password_file", str)
    try:
        if url is not None:
            check_url(url)
        password = read_password_file(password_file) if password_file else \
            pick("password", str)
    except BadServerSpec as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot read the password file: {exc.strerror}") from exc
    if url is None and host is None and port is None:
        url = _default_url()
    server = ServerSpec.from_parts(url=url, host=host, port=port,
                                   username=pick("username", str), password=password)
    config = MountConfig(
        server=server, mountpoint=mountpoint, prefix=prefix,
        read_only=bool(args.read_only or ours.get("read_only")),
        debug=bool(args.debug or ours.get("debug")),
        foreground=bool(args.foreground or ours.get("foreground")),
        mkfs=bool(args.mkfs or ours.get("mkfs")),
        allow_eviction=bool(args.allow_eviction or ours.get("allow_eviction")),
        log_file=pick("log_file", str), fuse_options=fuse,
        single_threaded=args.single_threaded)
    for name, value in seconds.items():
        if value is not None:
            setattr(config, name, value)
    if buffer is not None:
        config.write_buffer = max(buffer, 4096)
    if readahead is not None:
        config.readahead_kib = readahead
    return config


def main(argv: list[str] | None = None) -> int:
    argv = hide_password(sys.argv[1:] if argv is None else argv, MODULE, "redisfs")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except UsageError as exc:
        parser.error(str(exc))
    from ..mount.runner import MountError, check_mountpoint, run

    try:
        # -o nonempty is ours to decide: libfuse 3 mounts over files silently (and
        # rejects the option)
        allow_nonempty = bool(config.fuse_options.pop("nonempty", False))
        config.mountpoint = check_mountpoint(config.mountpoint, allow_nonempty=allow_nonempty)
        return run(config)
    except MountError as exc:
        print(f"redisfs: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug
        if config.debug:
            raise
        print(f"redisfs: internal error: {type(exc).__name__}: {exc} (run with --debug "
              "for details)", file=sys.stderr)
        return 1


def _default_url() -> str:
    """No server named: the same default as redisfs-ui (localhost:6379 if it answers,
    else the private embedded redis-server under the XDG directories)."""
    from ..core.embedded import default_server_url

    try:
        return default_server_url()
    except (OSError, RuntimeError) as exc:
        raise UsageError(f"no server given, localhost:6379 does not answer and the private "
                         f"redis-server could not start: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())

