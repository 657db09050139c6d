"""redisfs-migrate: convert a tree of the original C redisfs into a redisfs filesystem."""

from __future__ import annotations

import argparse
import sys
import time

from ..core.keys import valid_prefix
from ..core.legacy import DumpSource, ServerSource, migrate
from .common import (
    add_eviction_arg,
    add_server_args,
    check_eviction_or_exit,
    connect_or_exit,
    fail,
    run_main,
    spec_from_args,
)
from .secret_argv import hide_password

PROGRAM = "redisfs-migrate"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Convert a tree written by the original C redisfs (keys PREFIX:INODE:*, "
                    "PREFIX:DIRENT:*) into a new redisfs filesystem, all or nothing, and "
                    "print a report of what was found.  The C tree is only read.")
    parser.add_argument("--from-legacy", dest="source", metavar="PREFIX", required=True,
                        help="the C redisfs prefix (its --prefix, default there: skx)")
    parser.add_argument("--to", dest="target", metavar="PREFIX", required=True,
                        help="name of the new filesystem (must not exist)")
    parser.add_argument("--rdb", metavar="FILE",
                        help="read the C tree from this RDB dump file instead of the server "
                             "(the new filesystem still goes to the server)")
    parser.add_argument("--dry-run", action="store_true",
                        help="read and check the C tree, print the report, write nothing")
    add_server_args(parser)
    add_eviction_arg(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the real command line: no password may stay in it (ps)
        argv = hide_password(sys.argv[1:], "redisfs_tui.cli.migrate", PROGRAM)
    args = build_parser().parse_args(argv)

    def body() -> int:
        if not args.source or "\0" in args.source:
            fail(PROGRAM, "--from-legacy=PREFIX needs the C redisfs prefix (e.g. skx)")
        if not valid_prefix(args.target):  # before any server call
            fail(PROGRAM, f"invalid prefix {args.target!r} for --to: use 1-64 characters "
                          "from A-Z a-z 0-9 _ . -")
        client = connect_or_exit(spec_from_args(args, PROGRAM), PROGRAM)
        check_eviction_or_exit(client, PROGRAM, args.allow_eviction, read_only=args.dry_run)
        source = (DumpSource(args.rdb, args.source) if args.rdb
                  else ServerSource(client, args.source))
        report = migrate(client, source, args.target, progress=_progress_printer(),
                         dry_run=args.dry_run)
        print("\n".join(report.lines()))
        return 0

    return run_main(PROGRAM, body)


def _progress_printer():
    """Progress on stderr every 2 s, only for a person watching a terminal."""
    if not sys.stderr.isatty():
        return None
    last = [time.monotonic()]

    def show(done: int, total: int, name: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0:
            last[0] = now
            print(f"{PROGRAM}: {done:,} of {total:,} entries ({name[:40]})", file=sys.stderr)

    return show


if __name__ == "__main__":
    raise SystemExit(main())
