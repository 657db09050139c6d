"""Namespace stress: worker processes on one or more mounts of the same filesystem doing
random create/write/rename/link/unlink/mkdir/rmdir/readdir in one shared directory.

Each directory argument is the same shared directory seen through a different mount;
``--procs`` workers run on each.  Names come from a small pool (files f0..f11, dirs d0..d2,
and files inside those dirs) so operations collide all the time.  Workers keep up to two
files open across operations and write to them, so buffered data meets renames and
unlinks from the other mount.  ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL (and
EPERM for a link of a directory) are the expected answers to colliding operations; any
other errno is counted and fails the worker at the end (the run goes on, so that a hang
can still show).  The driver reports HANG (stress_watch.watch) when one syscall takes
longer than ``--hang``.

After the run, ``post_checks`` asks every mount for its root (in a subprocess, with a
timeout), removes the tree with ``rm -rf`` and waits until the directory is empty on every
mount.  Usage: python tests/nsstress.py DIR [DIR...] --seconds 60 --procs 4 --seed N
"""

from __future__ import annotations

import argparse
import errno
import mmap
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stress_watch as sw

EXPECTED = {errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR,
            errno.EINVAL}
# With several mounts, a name the kernel looked up may be gone from Redis by the time it
# is used; the daemon answers ESTALE, the kernel looks the name up again once, and a
# second race in a row reaches the caller as ESTALE (as on NFS).  Counted and shown,
# not failed.  (The path-based daemon also gave EIO and EBUSY here.)
EXPECTED_ACROSS_MOUNTS = {errno.ESTALE}
VISIBLE_AFTER = 3.0  # seconds: the daemons' default cache timeouts (2 s) and some slack
FILES = [f"f{i}" for i in range(12)]
DIRS = ["d0", "d1", "d2"]
NAMES = FILES + DIRS + [f"{d}/f{i}" for d in DIRS for i in range(4)]


@dataclass
class Options:
    dirs: list[str]
    seed: int = 1
    procs: int = 4
    seconds: float = 20.0
    hang: float = 15.0
    abort: bool = False
    daemon_pids: list[int] = field(default_factory=list)
    links: bool = True  # False: no link(2), to tell hard-link bugs from the others


class NsWorker:
    def __init__(self, opts: Options, index: int, directory: str, slots: sw.Slots,
                 stop: mmap.mmap) -> None:
        self.opts, self.index, self.dir, self.slots = opts, index, directory, slots
        self.stop, self.mount = stop, index // opts.procs
        self.unexpected: list[str] = []
        self.unexpected_count = 0
        self.gone = False
        self.rng = random.Random(f"{opts.seed}:{index}")
        self.open: dict[int, str] = {}
        self.errors: Counter[str] = Counter()
        self.number = 0
        self.slowest = (0.0, "")

    def path(self) -> str:
        return os.path.join(self.dir, self.rng.choice(NAMES))

    def data(self) -> bytes:
        size = self.rng.choice([0, 100, 4096, 30_000, 70_000, 200_000])
        return self.rng.randbytes(size)

    def do(self, text: str, call: object, *args: object, also: int = 0) -> object:
        self.number += 1
        text = text.replace(self.dir + "/", "").replace(self.dir, ".")
        self.slots.begin(self.index, self.number,
                         f"#{self.number} mount{self.mount} p{self.index} {text}")
        started = time.monotonic()
        try:
            return call(*args)  # type: ignore[operator]
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, "?")
            expected = EXPECTED | (EXPECTED_ACROSS_MOUNTS if len(self.opts.dirs) > 1
                                   else set())
            if exc.errno not in expected and exc.errno != also:
                self.unexpected_count += 1
                if len(self.unexpected) < 3:  # the first ones, with what led to them
                    self.unexpected.append(
                        f"UNEXPECTED {name}: worker {self.index} on mount{self.mount} op "
                        f"#{self.number} {text}: {exc.strerror}\n  last ops of this worker:\n"
                        f"    {sw.history(self.slots, self.index)}")
            self.errors[name] += 1
            if exc.errno in (errno.ENOTCONN, errno.ECONNABORTED):
                self.gone = True  # the daemon is gone (or aborted): nothing more to learn
            return None
        finally:
            took = time.monotonic() - started
            self.slowest = max(self.slowest, (took, text))
            self.slots.end(self.index)

    def create(self) -> None:
        path = self.path()
        fd = self.do(f"open O_CREAT {path}", os.open, path, os.O_WRONLY | os.O_CREAT, 0o644)
        if fd is None:
            return
        data = self.data()
        self.do(f"write {len(data)} to new {path}", os.write, fd, data)
        if len(self.open) < 2 and self.rng.random() < 0.5:
            self.open[fd] = path  # keep it open, write more later
        else:
            self.do(f"close {path}", os.close, fd)

    def write_open(self) -> None:
        if not self.open:
            return self.create()
        fd = self.rng.choice(sorted(self.open))
        data = self.data()
        off = self.rng.randrange(0, 300_000)
        self.do(f"pwrite {len(data)} at {off} to open {self.open[fd]}", os.pwrite, fd, data, off)
        if self.rng.random() < 0.3:
            self.do(f"close {self.open.pop(fd)}", os.close, fd)
        return None

    def read(self) -> None:
        path = self.path()
        fd = self.do(f"open O_RDONLY {path}", os.open, path, os.O_RDONLY)
        if fd is not None:
            self.do(f"read {path}", os.read, fd, 1 << 20)
            self.do(f"close {path}", os.close, fd)

    def step(self) -> None:
        roll = self.rng.random()
        a, b = self.path(), self.path()
        if roll < 0.2:
            self.create()
        elif roll < 0.35:
            self.write_open()
        elif roll < 0.5:
            self.do(f"rename {a} {b}", os.rename, a, b)
        elif roll < 0.6:
            self.do(f"unlink {a}", os.unlink, a)
        elif roll < 0.67:
            if not self.opts.links:
                return self.create()
            self.do(f"link {a} {b}", os.link, a, b, also=errno.EPERM)  # a: a dir
        elif roll < 0.74:
            d = os.path.join(self.dir, self.rng.choice(DIRS))
            self.do(f"mkdir {d}", os.mkdir, d)
        elif roll < 0.8:
            d = os.path.join(self.dir, self.rng.choice(DIRS))
            self.do(f"rmdir {d}", os.rmdir, d)
        elif roll < 0.88:
            self.read()
        elif roll < 0.94:
            self.do(f"stat {a}", os.stat, a)
        else:
            self.do(f"listdir {self.dir}", os.listdir, self.dir)

    def run(self) -> None:
        deadline = time.monotonic() + self.opts.seconds
        while time.monotonic() < deadline and not self.gone:
            self.step()
        for fd, path in sorted(self.open.items()):
            self.do(f"close {path}", os.close, fd)
        if self.gone and not self.stop[1]:
            print(f"  worker {self.index}: mount{self.mount} answers ENOTCONN/ECONNABORTED: its "
                  "daemon is gone (crashed or exited); worker stopped", flush=True)
        if not self.stop[1]:
            print(f"  worker {self.index} on mount{self.mount}: {self.number} syscalls, slowest "
                  f"{self.slowest[0]:.2f} s ({self.slowest[1]}), errors {dict(self.errors)}",
                  flush=True)
        if self.unexpected_count:
            raise RuntimeError(f"worker {self.index}: {self.unexpected_count} unexpected "
                               "errors, the first ones:\n" + "\n".join(self.unexpected))


def run(opts: Options) -> int:
    mountpoints = sorted({sw.mountpoint_of(d) for d in opts.dirs})
    total = opts.procs * len(opts.dirs)
    slots, stop = sw.Slots(total), mmap.mmap(-1, mmap.PAGESIZE)
    sys.stdout.flush()
    pids, roles = [], []
    for index in range(total):
        directory = opts.dirs[index // opts.procs]
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                NsWorker(opts, index, directory, slots, stop).run()
            except Exception as exc:  # reported: the worker fails
                if not stop[1]:  # (after an abort the errors are not news)
                    print(f"NSSTRESS ERROR: {exc}", flush=True)
                code = 1
            os._exit(code)
        pids.append(pid)
        roles.append(f"worker {index} on mount{index // opts.procs} ({directory})")
    title = f"nsstress seed={opts.seed} procs={opts.procs} x {len(opts.dirs)} dirs"
    started = time.monotonic()
    verdict, report = sw.watch(pids, roles, slots, stop, workers=total, hang=opts.hang,
                               mountpoints=mountpoints, daemon_pids=opts.daemon_pids,
                               abort=opts.abort, title=title)
    elapsed = time.monotonic() - started
    print(f"NSSTRESS {report}" if report else f"NSSTRESS PASSED: {title}, {elapsed:.1f} s",
          flush=True)
    return verdict


def post_checks(dirs: list[str] | list[Path], timeout: float = 30.0) -> list[str]:
    """Every mount answers ``stat`` of its root within 10 s; ``rm -rf`` of the shared tree
    works; the directory is then empty on every mount.  A command that does not end is
    reported as a hang and the mounts' FUSE connections are aborted (so it does end)."""
    points = sorted({sw.mountpoint_of(str(d)) for d in dirs})
    problems = []
    for point in points:
        done = sw.bounded(["stat", "-c", "%i", point], 10, points)
        if isinstance(done, str) or done.returncode:
            problems.append(f"HANG after the storm: {done}" if isinstance(done, str) else
                            f"stat {point}: {done.stderr.strip()}")
    if problems:
        return problems
    # a mount sees the other's last changes within its cache timeouts (2 s by default,
    # README "Several mounts"): names created through the other mount just before the end
    # would be missing from this one's listing, and rm -rf would leave them
    time.sleep(VISIBLE_AFTER if len(points) > 1 else 0)
    done = sw.bounded(["sh", "-c", 'rm -rf -- "$1"/* "$1"/.[!.]*', "sh", str(dirs[0])],
                      timeout, points)
    if isinstance(done, str):
        return [f"HANG after the storm: {done}"]
    if done.returncode:
        problems.append(f"rm -rf {dirs[0]}/*: {done.stderr.strip()[-2000:]}")
    for directory in dirs:
        deadline, left = time.monotonic() + 5, ["?"]
        while left and time.monotonic() < deadline:
            done = sw.bounded(["ls", "-A", str(directory)], timeout, points)
            if isinstance(done, str):
                return [*problems, f"HANG after the storm: {done}"]
            left = done.stdout.split() if done.returncode == 0 else [f"(ls: {done.stderr})"]
            time.sleep(0.2)
        if left:
            problems.append(f"{directory} not empty after rm -rf: {left}")
            shown = sw.bounded(["ls", "-laR", str(directory)], timeout, points)
            if not isinstance(shown, str):  # what is left, as this mount sees it
                problems.append(f"ls -laR {directory}:\n{(shown.stdout + shown.stderr)[-3000:]}")
    return problems


@dataclass
class Result:
    code: int
    output: str
    seconds: float


def run_nsstress(dirs: list[str] | list[Path], *, timeout: float = 120.0, **kwargs: object
                 ) -> Result:
    """Run the storm in a subprocess; one that does not end in ``timeout`` s is a HANG."""
    opts = Options([str(d) for d in dirs], **kwargs)  # type: ignore[arg-type]
    cmd = [sys.executable, __file__, *opts.dirs, "--seed", str(opts.seed), "--procs",
           str(opts.procs), "--seconds", str(opts.seconds), "--hang", str(opts.hang)]
    cmd += ["--abort"] * opts.abort + ["--no-links"] * (not opts.links)
    cmd += [a for pid in opts.daemon_pids for a in ("--daemon-pid", str(pid))]
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            points = sorted({sw.mountpoint_of(d) for d in opts.dirs})
            note = (f"NSSTRESS HANG: the driver did not end within {timeout} s\n"
                    + sw.connection_state(points) + "\n"
                    + sw.kernel_stacks([proc.pid, *opts.daemon_pids]) + "\n"
                    + "\n".join(sw.abort_mount(p) for p in points))
            proc.kill()
            out, _ = proc.communicate(timeout=30)
            out, code = out + note.encode(), 3
    return Result(code, out.decode(errors="replace"), time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--hang", type=float, default=15.0)
    p.add_argument("--abort", action="store_true", help="abort the FUSE connections on a hang")
    p.add_argument("--daemon-pid", type=int, action="append", default=[])
    p.add_argument("--no-links", action="store_true", help="no link(2) calls")
    a = p.parse_args(argv)
    return run(Options(a.dirs, a.seed, a.procs, a.seconds, a.hang, a.abort, a.daemon_pid,
                       not a.no_links))


if __name__ == "__main__":
    sys.exit(main())
