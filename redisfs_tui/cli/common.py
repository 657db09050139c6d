"""Server flags shared by every entry point, and clean error exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..core import FsError, ServerSpec, connect, redacted
from ..core.connection import BadServerSpec
from ..core.guards import ALLOW_FLAG, EvictingServer, check_eviction


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """--url/--host/--port/--db/--username/--password-file/--tls (seed-compatible)."""
    group = parser.add_argument_group("server")
    group.add_argument("--url", help="redis://, rediss:// (TLS) or unix:// URL; "
                       "redis+cluster://H:P,H:P or redis+sentinel://H:P,H:P/SERVICE[/DB]")
    group.add_argument("--host", help="Redis host (default localhost)")
    group.add_argument("--port", type=int, help="Redis port (default 6379)")
    group.add_argument("--db", type=int, help="database number (default 0)")
    group.add_argument("--username", help="ACL user name")
    group.add_argument("--password-file", metavar="FILE",
                       help="read the password from FILE (or set REDISFS_PASSWORD)")
    group.add_argument("--tls", action="store_true", help="use TLS (rediss://)")


def spec_from_args(args: argparse.Namespace, program: str) -> ServerSpec:
    """The server the flags name; a bad URL or password file exits 2 with a message."""
    try:
        return ServerSpec.from_parts(url=args.url, host=args.host, port=args.port, db=args.db,
                                     username=args.username, password_file=args.password_file,
                                     tls=args.tls)
    except BadServerSpec as exc:
        fail(program, str(exc))
    except OSError as exc:
        fail(program, f"cannot read the password file {args.password_file}: "
                      f"{exc.strerror or exc}")
    raise AssertionError("fail() exits")


def connect_or_exit(spec: ServerSpec, program: str):
    """Connect, or print one clear line and exit 2 (no traceback)."""
    try:
        return connect(spec)
    except FsError as exc:
        fail(program, f"cannot use Redis at {redacted(spec.url)}: {exc.strerror}")
    except (OSError, ValueError) as exc:
        fail(program, f"cannot use Redis at {redacted(spec.url)}: {exc}")


def add_eviction_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(ALLOW_FLAG, action="store_true",
                        help="go on even though Redis' maxmemory-policy may evict file data")


def check_eviction_or_exit(client, program: str, allow: bool, read_only: bool = False) -> None:
    """Refuse (exit 1) a server that may evict file data unless allowed; warn on stderr
    when allowed, read-only, or when the policy cannot be read."""
    try:
        warning = check_eviction(client, allow=allow, read_only=read_only)
    except EvictingServer as exc:
        fail(program, str(exc), code=1)
    except FsError as exc:
        fail(program, exc.strerror, code=1)
    else:
        if warning:
            print(f"{program}: WARNING: {warning}", file=sys.stderr)


def fail(program: str, message: str, code: int = 2) -> None:
    print(f"{program}: {message}", file=sys.stderr)
    raise SystemExit(code)


def run_main(program: str, body: Callable[[], int]) -> int:
    """Run a command body; FsError and Ctrl-C become one-line messages."""
    try:
        return body()
    except FsError as exc:
        print(f"{program}: {exc.strerror}", file=sys.stderr)
        return 1
    except OSError as exc:  # a local file: no such directory, permission denied, disk full
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{program}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
