"""A realistic demo filesystem, so a new user sees something real at once.

Built only through the public FileSystem API.  It holds source code, text,
binary files (a PNG image, an incompressible blob), a symlink, a hard link, a
FIFO, extended attributes, a sparse 1 GiB disk image and a 12 MiB log, with
modification times spread over the last weeks.  Give ``now_ns`` for a fixed
clock (deterministic screenshots and tests).
"""

from __future__ import annotations

import os
import random
import stat
import struct
import time
import zlib

import redis

from .attrs import ROOT_INO
from .errors import NoSuchFilesystem
from .fs import FileSystem

DEMO_PREFIX = "demo"
HOUR_NS = 3600 * 10**9
SPARSE_SIZE = 1 << 30
LOG_LINES = 120_000

README = """# Project Atlas

Welcome to the **redisfs demo**.  Everything you see here -- names, inodes,
permissions and the compressed file contents -- lives in Redis keys.

* `src/`      Python and Rust sources
* `docs/`     notes and a design document
* `assets/`   binary files (an image, a random blob)
* `var/log/`  daily logs, plus one large log
* `images/`   a sparse 1 GiB disk image (holes cost nothing)

Press `i` in the browser to see the raw Redis keys behind any file.
"""

MAIN_PY = '''"""Atlas: a tiny service that maps names to coordinates."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float

    def distance_to(self, other: "Place") -> float:
        """Equirectangular approximation: good enough for a demo."""
        from math import cos, radians, sqrt

        x = radians(other.lon - self.lon) * cos(radians((self.lat + other.lat) / 2))
        y = radians(other.lat - self.lat)
        return 6371.0 * sqrt(x * x + y * y)


def load(path: str) -> list[Place]:
    with open(path, encoding="utf-8") as handle:
        return [Place(**row) for row in json.load(handle)]


if __name__ == "__main__":
    places = load("places.json")
    print(f"{len(places)} places, first: {places[0].name}")
'''

LIB_RS = """//! Geohash encoding, the fast path of Atlas.

const BASE32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";

pub fn encode(lat: f64, lon: f64, precision: usize) -> String {
    let (mut lat_rng, mut lon_rng) = ((-90.0, 90.0), (-180.0, 180.0));
    let mut hash = String::with_capacity(precision);
    let (mut bits, mut bit, mut even) = (0u8, 0, true);
    while hash.len() < precision {
        let (rng, value) = if even { (&mut lon_rng, lon) } else { (&mut lat_rng, lat) };
        let mid = (rng.0 + rng.1) / 2.0;
        if value >= mid { bits |= 1 << (4 - bit); rng.0 = mid; } else { rng.1 = mid; }
        even = !even;
        bit += 1;
        if bit == 5 { hash.push(BASE32[bits as usize] as char); bits = 0; bit = 0; }
    }
    hash
}
"""

PLACES_JSON = """[
  {"name": "Lisbon", "lat": 38.7223, "lon": -9.1393},
  {"name": "Reykjavik", "lat": 64.1466, "lon": -21.9426},
  {"name": "Kyoto", "lat": 35.0116, "lon": 135.7681},
  {"name": "Valparaiso", "lat": -33.0472, "lon": -71.6127}
]
"""

CONFIG_TOML = """[server]
listen = "127.0.0.1:8080"
workers = 4

[storage]
backend = "redis"
url = "redis://localhost:6379/0"
"""

MAKEFILE = """.PHONY: test run

test:
\tpython -m pytest -q

run:
\tpython src/atlas/main.py
"""

DESIGN_MD = """# Design notes

Atlas keeps its catalogue in a filesystem that is itself stored in Redis, so
several hosts see the same files without NFS.

## Decisions

1. Names are looked up with one Lua script per path.
2. File contents are split into 128 KiB blocks and compressed with zstd.
3. Snapshots copy keys server-side; nothing leaves Redis.
"""

TODO_TXT = """- [x] mount on the build box
- [ ] try a snapshot before the upgrade
- [ ] measure compression on the logs
"""


def _png(width: int = 48, height: int = 48) -> bytes:
    """A real PNG (a colour gradient), built without any imaging library."""
    rows = b"".join(
        b"\0" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 5 % 256, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def _log_text(lines: int, start_s: int) -> bytes:
    """Web-server style access log lines (compress very well, as real logs do)."""
    rng = random.Random(7)
    paths = ["/", "/api/places", "/api/places/42", "/static/app.js", "/health", "/login"]
    agents = ["curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)", "atlas-probe/1.2"]
    out = []
    for i in range(lines):
        t = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(start_s + i * 7))
        out.append(
            f'10.0.{rng.randrange(4)}.{rng.randrange(1, 255)} - - [{t} +0000] '
            f'"GET {rng.choice(paths)} HTTP/1.1" {rng.choice((200, 200, 200, 304, 404))} '
            f'{rng.randrange(200, 9000)} "-" "{rng.choice(agents)}"\n')
    return "".join(out).encode()


class _Builder:
    """Creates entries and remembers their times, applied at the end."""

    def __init__(self, fs: FileSystem, now_ns: int, uid: int, gid: int) -> None:
        self.fs, self.now, self.uid, self.gid = fs, now_ns, uid, gid
        self.times: list[tuple[int, int]] = []

    def stamp(self, ino: int, hours_ago: float) -> None:
        self.times.append((ino, self.now - int(hours_ago * HOUR_NS)))

    def dir(self, parent: int, name: str, hours_ago: float, mode: int = 0o755) -> int:
        ino = self.fs.mkdir(parent, name, mode, self.uid, self.gid).ino
        self.stamp(ino, hours_ago)
        return ino

    def file(self, parent: int, name: str, data: bytes, hours_ago: float,
             mode: int = 0o644) -> int:
        ino = self.fs.create(parent, name, mode, self.uid, self.gid).ino
        try:
            if data:
                self.fs.write(ino, 0, data)
        finally:
            self.fs.release(ino)
        self.stamp(ino, hours_ago)
        return ino

    def finish(self) -> None:
        """Set times last: creating children would bump the directories' mtime."""
        for ino, t in self.times:
            self.fs.utimens(ino, t, t)


def build_demo(
    client: redis.Redis,
    prefix: str = DEMO_PREFIX,
    now_ns: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> tuple[FileSystem, bool]:
    """Open the demo filesystem, creating and filling it if missing.

    Returns (filesystem, created).  ``now_ns`` fixes the clock the file times
    are spread from (default: now).
    """
    try:
        return FileSystem(client, prefix), False
    except NoSuchFilesystem:
        pass
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    fs = FileSystem.mkfs(client, prefix, uid=uid, gid=gid)
    now = time.time_ns() if now_ns is None else now_ns
    b = _Builder(fs, now, uid, gid)
    root = ROOT_INO
    readme = b.file(root, "README.md", README.encode(), 2)
    b.file(root, "Makefile", MAKEFILE.encode(), 30)
    fs.setxattr(readme, "user.comment", b"start here")

    src = b.dir(root, "src", 3)
    atlas = b.dir(src, "atlas", 3)
    b.file(atlas, "__init__.py", b'"""Atlas package."""\n__version__ = "0.3.1"\n', 200)
    b.file(atlas, "main.py", MAIN_PY.encode(), 3)
    b.file(atlas, "places.json", PLACES_JSON.encode(), 50)
    geo = b.dir(src, "geohash", 120)
    b.file(geo, "lib.rs", LIB_RS.encode(), 120)
    fs.link(readme, src, "README.md")  # a hard link: one inode, two names

    docs = b.dir(root, "docs", 26)
    b.file(docs, "design.md", DESIGN_MD.encode(), 26)
    b.file(docs, "todo.txt", TODO_TXT.encode(), 5)
    b.file(docs, "empty.txt", b"", 400)
    b.dir(docs, "drafts", 400, 0o700)

    etc = b.dir(root, "etc", 72)
    b.file(etc, "atlas.toml", CONFIG_TOML.encode(), 72, 0o600)

    assets = b.dir(root, "assets", 48)
    b.file(assets, "logo.png", _png(), 48)
    b.file(assets, "blob.bin", random.Random(42).randbytes(96 * 1024), 47)
    bin_dir = b.dir(root, "bin", 10)
    script = b"#!/bin/sh\nexec python3 \"$(dirname \"$0\")/../src/atlas/main.py\" \"$@\"\n"
    b.file(bin_dir, "atlas", script, 10, 0o755)

    var = b.dir(root, "var", 1)
    log = b.dir(var, "log", 1)
    start_s = now // 10**9 - 30 * 24 * 3600
    for day in range(30):
        day_s = start_s + day * 24 * 3600
        name = time.strftime("access-%Y-%m-%d.log", time.gmtime(day_s))
        b.file(log, name, _log_text(40, day_s), (30 - day) * 24)
    b.file(log, "access-full.log", _log_text(LOG_LINES, start_s), 1)
    fs.symlink(root, "latest.log", "var/log/access-full.log", uid, gid)
    b.stamp(fs.lookup(root, "latest.log").ino, 1)
    run = b.dir(var, "run", 6)
    b.stamp(fs.mknod(run, "events.fifo", stat.S_IFIFO | 0o640, uid, gid).ino, 6)

    images = b.dir(root, "images", 90)
    disk = b.file(images, "disk.img", b"", 90)
    fs.write(disk, 0, b"\xebX\x90mkfs.fat\0" + bytes(500) + b"\x55\xaa")
    fs.truncate(disk, SPARSE_SIZE)
    fs.write(disk, SPARSE_SIZE // 2, b"redisfs demo: only written blocks are stored\n")
    b.finish()
    fs.utimens(root, now - HOUR_NS, now - HOUR_NS)
    return fs, True
