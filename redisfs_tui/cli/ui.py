"""redisfs-ui: the terminal explorer.

With no server flags it uses localhost:6379 when a Redis answers there, else a
private redis-server under the XDG directories (started detached, AOF on), and
fills a demo filesystem on that private server so there is something to see.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import redis

from ..core import FileSystem, FsError, ServerSpec, redacted
from ..core.demo import DEMO_PREFIX, build_demo
from ..core.embedded import DefaultServer, ensure_embedded_server, resolve_default_server
from ..core.guards import EvictingServer, check_eviction
from ..core.keys import valid_prefix
from ..core.local_server import LocalRedis
from ..core.registry import list_filesystems
from ..core.upgrade import upgrade
from ..rdb import RdbError, read_rdb
from .common import (
    add_eviction_arg,
    add_server_args,
    connect_or_exit,
    fail,
    run_main,
    spec_from_args,
)
from .secret_argv import hide_password

PROGRAM = "redisfs-ui"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Explore redisfs filesystems in Redis: browse, preview, inspect the raw "
                    "keys, snapshot, fsck and mount.  Without --url/--host it uses "
                    "localhost:6379 if a Redis answers there, else starts a private "
                    "redis-server (data in $XDG_DATA_HOME/redisfs).",
    )
    add_server_args(parser)
    add_eviction_arg(parser)
    parser.add_argument("--embedded", action="store_true",
                        help="use the private redis-server even if localhost:6379 answers")
    parser.add_argument("--rdb", metavar="FILE",
                        help="open a Redis dump file offline: a private, throw-away "
                             "redis-server loads a copy of it (the file is never changed)")
    parser.add_argument("--prefix", help="open this filesystem in the browser")
    parser.add_argument("--demo", action=argparse.BooleanOptionalAction, default=None,
                        help=f"create the demo filesystem {DEMO_PREFIX!r} if missing and open "
                             "it (default: only on the private embedded server)")
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the real command line: no password may stay in it (ps)
        argv = hide_password(sys.argv[1:], "redisfs_tui.cli.ui", PROGRAM)
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.prefix is not None and not valid_prefix(args.prefix):
            fail(PROGRAM, f"invalid prefix {args.prefix!r}: use A-Z a-z 0-9 _ . - (max 64)")
        notices: list[str] = []
        embedded = False
        explicit = args.url or args.host or args.port or args.tls
        if args.rdb:
            spec = ServerSpec(url=offline.url)
            notices.append(f"Offline copy of {args.rdb}: changes are discarded on exit")
        elif explicit:
            spec = spec_from_args(args, PROGRAM)
        else:
            try:
                default = _embedded() if args.embedded else resolve_default_server()
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                fail(PROGRAM, str(exc))
                raise AssertionError from exc  # fail() exits
            base = spec_from_args(args, PROGRAM)
            spec = ServerSpec(url=default.url, username=base.username, password=base.password)
            embedded = default.embedded is not None
            notices.append(default.message)
        client = connect_or_exit(spec, PROGRAM)
        alerts: list[str] = []
        try:
            warning = check_eviction(client, allow=args.allow_eviction)
        except EvictingServer as exc:
            fail(PROGRAM, str(exc), code=1)
        if warning:
            alerts.append(warning)
        prefix = args.prefix
        if args.demo or (args.demo is None and embedded and not prefix):
            try:
                _, created = build_demo(client)
            except FsError as exc:
                fail(PROGRAM, f"cannot create the demo filesystem: {exc.strerror}")
            if created:
                notices.append(f"Created the demo filesystem {DEMO_PREFIX!r}: have a look around")
            prefix = prefix or DEMO_PREFIX
        if prefix:
            try:
                FileSystem(client, prefix)
            except FsError as exc:
                fail(PROGRAM, exc.strerror)

        from ..ui.app import RedisFsApp  # Textual loads only once the server is usable

        app = RedisFsApp(client, spec, server_label=redacted(spec.url), prefix=prefix,
                         notices=tuple(notices), alerts=tuple(alerts),
                         allow_eviction=args.allow_eviction, offline=args.rdb)
        app.run()
        return app.return_code or 0

    with contextlib.ExitStack() as cleanup:
        if args.rdb:
            offline = _open_rdb_offline(args.rdb)
            cleanup.callback(shutil.rmtree, offline.data_dir, ignore_errors=True)
            cleanup.callback(offline.stop)
        return run_main(PROGRAM, body)


def _open_rdb_offline(path: str) -> LocalRedis:
    """Check the dump with our own reader (a clear message instead of a server that
    refuses to start), then let a private redis-server load a copy of it."""
    try:
        read_rdb(path)
    except (OSError, RdbError) as exc:
        fail(PROGRAM, f"cannot open {path}: {getattr(exc, 'strerror', None) or exc}")
    workdir = Path(tempfile.mkdtemp(prefix="redisfs-rdb-"))
    shutil.copyfile(path, workdir / "dump.rdb")
    server = LocalRedis(workdir, extra_args=["--dbfilename", "dump.rdb"])
    try:
        server.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        fail(PROGRAM, f"redis-server could not load {path}: {exc}")
        raise
    _upgrade_all(server)
    return server


def _upgrade_all(server: LocalRedis) -> None:
    """The throw-away copy's format 1 filesystems are upgraded (the file is untouched),
    so an old dump opens like a new one."""
    client = redis.Redis.from_url(server.url)
    for summary in list_filesystems(client):
        if summary.format_version == 1:
            upgrade(client, summary.prefix)


def _embedded() -> DefaultServer:
    server = ensure_embedded_server()
    return DefaultServer(server.url, server, server.describe())


if __name__ == "__main__":
    raise SystemExit(main())
