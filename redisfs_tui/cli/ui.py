"""redisfs-ui: the terminal explorer.

With no server flags it uses localhost:6379 when a Redis answers there, else a
private redis-server under the XDG directories (started detached, AOF on), and
fills a demo filesystem on that private server so there is something to see.
"""

from __future__ import annotations

import argparse

from ..core import FileSystem, FsError, ServerSpec, redacted
from ..core.demo import DEMO_PREFIX, build_demo
from ..core.embedded import DefaultServer, ensure_embedded_server, resolve_default_server
from ..core.keys import valid_prefix
from .common import add_server_args, connect_or_exit, fail, run_main, spec_from_args

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
    parser.add_argument("--embedded", action="store_true",
                        help="use the private redis-server even if localhost:6379 answers")
    parser.add_argument("--prefix", help="open this filesystem in the browser")
    parser.add_argument("--demo", action=argparse.BooleanOptionalAction, default=None,
                        help=f"create the demo filesystem {DEMO_PREFIX!r} if missing and open "
                             "it (default: only on the private embedded server)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.prefix and not valid_prefix(args.prefix):
            fail(PROGRAM, f"invalid prefix {args.prefix!r}: use A-Z a-z 0-9 _ . - (max 64)")
        notices: list[str] = []
        embedded = False
        explicit = args.url or args.host or args.port or args.tls
        if explicit:
            spec = spec_from_args(args)
        else:
            try:
                default = _embedded() if args.embedded else resolve_default_server()
            except (FileNotFoundError, RuntimeError, OSError) as exc:
                fail(PROGRAM, str(exc))
                raise AssertionError from exc  # fail() exits
            base = spec_from_args(args)
            spec = ServerSpec(url=default.url, username=base.username, password=base.password)
            embedded = default.embedded is not None
            notices.append(default.message)
        client = connect_or_exit(spec, PROGRAM)
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
                         notices=tuple(notices))
        app.run()
        return app.return_code or 0

    return run_main(PROGRAM, body)


def _embedded() -> DefaultServer:
    server = ensure_embedded_server()
    return DefaultServer(server.url, server, server.describe())


if __name__ == "__main__":
    raise SystemExit(main())
