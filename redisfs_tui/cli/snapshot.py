"""redisfs-snapshot: point-in-time copies of a filesystem (no root, no FUSE, only Redis)."""

from __future__ import annotations

import argparse
import sys

from ..core import registry
from ..core import snapshot as snap
from ..core.keys import valid_prefix
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

PROGRAM = "redisfs-snapshot"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Copy a redisfs filesystem to a new prefix atomically, restore one, "
                    "or list filesystems.  The copy mounts with `redisfs --prefix=TO`.",
    )
    parser.add_argument("--from", dest="source", metavar="PREFIX", help="filesystem to copy")
    parser.add_argument("--to", dest="target", metavar="PREFIX",
                        help="new prefix (default: FROM.snap-<UTC time>)")
    parser.add_argument("--restore", action="store_true",
                        help="replace TO's contents with FROM (a snapshot) instead")
    parser.add_argument("--list", action="store_true", help="list filesystems and exit")
    parser.add_argument("--export", metavar="FILE",
                        help="write filesystem FROM to an RDB dump file instead")
    parser.add_argument("--import", dest="import_file", metavar="FILE",
                        help="load filesystem FROM from an RDB dump file (one saved by "
                             "redis-server or by --export) into the server, under the name "
                             "TO if given, else FROM; all or nothing")
    parser.add_argument("--upgrade", metavar="PREFIX",
                        help="convert filesystem PREFIX from on-Redis format 1 to 2 (once; "
                             "refused while it is mounted; safe to run again after a crash)")
    parser.add_argument("--gc", metavar="PREFIX",
                        help="delete the unreferenced data blocks of the pool PREFIX shares "
                             "with its snapshots (blocks younger than 10 minutes are kept)")
    add_server_args(parser)
    add_eviction_arg(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the real command line: no password may stay in it (ps)
        argv = hide_password(sys.argv[1:], "redisfs_tui.cli.snapshot", PROGRAM)
    args = build_parser().parse_args(argv)

    def body() -> int:
        for flag, prefix in (("--from", args.source), ("--to", args.target),
                             ("--upgrade", args.upgrade), ("--gc", args.gc)):
            if prefix is not None and not valid_prefix(prefix):  # before any server call
                fail(PROGRAM, f"invalid prefix {prefix!r} for {flag}: use 1-64 characters "
                              "from A-Z a-z 0-9 _ . -")
        client = connect_or_exit(spec_from_args(args, PROGRAM), PROGRAM)
        only_reads = bool(args.list or args.export)  # these cannot lose data themselves
        check_eviction_or_exit(client, PROGRAM, args.allow_eviction, read_only=only_reads)
        if args.list:
            for fs in registry.list_filesystems(client):
                origin = f"  (snapshot of {fs.snapshot_of})" if fs.snapshot_of else ""
                print(f"{fs.prefix}\t{fs.inodes} inodes\t{fs.logical_bytes} bytes{origin}")
            return 0
        if args.upgrade or args.gc:
            return _maintain(client, args)
        if not args.source:
            fail(PROGRAM, "--from=PREFIX is required (or --list, --upgrade, --gc)")
        if args.export or args.import_file:
            return _dump_file(client, args)
        if args.restore and not args.target:
            fail(PROGRAM, "--restore needs --to=PREFIX (the filesystem to overwrite)")
        target = args.target or snap.default_snapshot_name(args.source)
        if args.restore:
            result = snap.restore(client, args.source, target)
            print(f"restored {target} from {args.source}: {result.inodes} inodes "
                  f"in {result.seconds:.3f} s")
        else:
            result = snap.snapshot(client, args.source, target)
            print(f"snapshot {target} of {args.source}: {result.inodes} inodes "
                  f"in {result.seconds:.3f} s")
        return 0

    return run_main(PROGRAM, body)


def _maintain(client, args: argparse.Namespace) -> int:
    """--upgrade / --gc."""
    from ..core import pool, upgrade

    if args.upgrade:
        done = upgrade.upgrade(client, args.upgrade)
        if done.already:
            print(f"{args.upgrade} has format 2 already: nothing to do")
        else:
            print(f"upgraded {args.upgrade} to format 2: {done.blocks} blocks in "
                  f"{done.seconds:.3f} s")
    if args.gc:
        result = pool.gc_filesystem(client, args.gc)
        if result is None:
            fail(PROGRAM, f"no format 2 filesystem {args.gc!r}", code=1)
        if result.aborted:
            fail(PROGRAM, f"gc of pool {result.pool} stopped: {result.aborted}; run it again",
                 code=1)
        print(f"gc of pool {result.pool} ({', '.join(result.members)}): {result.scanned} "
              f"blocks, {result.referenced} referenced, {result.deleted} deleted "
              f"({result.freed_bytes} bytes), {result.young} younger than 10 minutes kept")
    return 0


def _dump_file(client, args: argparse.Namespace) -> int:
    """--export / --import: a filesystem to or from an RDB file."""
    from ..core import rdb_io

    if args.export:
        count = rdb_io.export_filesystem(client, args.source, args.export)
        print(f"exported {args.source} to {args.export}: {count} keys")
        return 0
    result = rdb_io.import_filesystem(client, args.import_file, args.source,
                                      target=args.target)
    named = f" as {result.prefix}" if result.prefix != args.source else ""
    print(f"imported {args.source} from {args.import_file}{named}: {result.keys} keys")
    if result.note:
        print(f"{PROGRAM}: note: {result.note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
