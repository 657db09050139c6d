"""fsx-style randomized checker of one file (after xfstests' fsx), with a hang watchdog.

Keeps an in-memory model of the file and runs a seeded random sequence of pwrite, pread
(compared), ftruncate up/down, mmap read (compared), mmap write + msync, close/reopen
(sometimes O_TRUNC), fsync and stat/fstat (size compared), with offsets clustered around
the 128 KiB/256 KiB block boundaries.  Modes:

* ``--workers N``: N worker processes on the same file.  Worker 0 owns the tail from
  (N-1)*REGION up and is the only one that changes the size; worker i>0 owns the fixed
  region [(i-1)*REGION, i*REGION).  Each checks only its own bytes, so the syscalls are
  not serialized and a read on one worker races with saves caused by writes of another.
* ``--link``: the file has two hard-link names; every worker keeps a descriptor on each
  and picks one per operation; ``--readers K`` adds K processes that open/read/fstat/close
  the second name in a loop (contents not compared: they only have to answer).
* ``--no-holes``: writes start at or below EOF and truncates only shrink, so the file never
  has a sparse range (tells bugs in reading holes from the others).
* ``--threads``: the workers are threads of one process instead of processes (one
  descriptor table, one address space for the mmaps; a SIGBUS ends them all).
* ``--second DIR``: the same directory through a second mount of the same filesystem;
  odd-numbered workers and readers use it.  Regions cross block boundaries, so two mounts
  change one block at once (neither may lose the other's bytes), and each worker's final
  read is repeated through the other mount with a fresh open (close-to-open consistency).

Workers are processes so that a SIGBUS on an mmap read kills one worker, which the
driver reports with that worker's last operations.  The driver never touches the file
while workers run: it watches their status slots (stress_watch.Slots) and reports HANG
when one syscall takes longer than ``--hang`` seconds (kernel stacks, FUSE ``waiting``),
then aborts the FUSE connection (``--abort``) so that every process gets free.

Exit status: 0 passed, 1 FAILED (bad data, wrong size, unexpected error, death by signal),
3 HANG.  Usage: python tests/fsx.py DIR --seed N --ops N [--mmap] [--workers N] [--link]
"""

from __future__ import annotations

import argparse
import contextlib
import mmap
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stress_watch as sw

PAGE = mmap.PAGESIZE
KIB = 1024
REGION = 320 * KIB  # a fixed worker's region: crosses the 128/256 KiB block boundaries
CYCLE = bytes(i % 251 for i in range(251)) * (2 * 1024 * KIB // 251 + 2)


def pattern(number: int, offset: int, length: int) -> bytes:
    """Data of write #number at ``offset``: byte = (offset % 251 + number) % 256, so a bad
    byte tells which write (modulo 256) it came from."""
    start = offset % 251
    table = bytes((j + number) % 256 for j in range(256))
    return CYCLE[start : start + length].translate(table)


class CheckFailed(Exception):
    pass


@dataclass
class Options:
    directory: str
    seed: int
    ops: int = 2000
    workers: int = 1
    mmap: bool = False
    link: bool = False
    readers: int = 0
    max_size: int = 1536 * KIB
    hang: float = 10.0
    abort: bool = False
    mountpoint: str | None = None
    daemon_pids: list[int] = field(default_factory=list)
    keep: bool = False
    holes: bool = True  # False: writes start at or below EOF, truncates only shrink
    # with --link: False = workers use the first name only (readers keep the second busy)
    # and the second is compared once after the run; True = every op picks a name
    cross: bool = True
    second: str | None = None  # the same directory through another mount
    threads: bool = False  # workers are threads of one process

    @property
    def names(self) -> list[str]:
        return self.names_in(self.directory)

    def names_in(self, directory: str) -> list[str]:
        base = os.path.join(directory, f"fsx.{self.seed}")
        return [base, base + ".link"] if self.link else [base]

    def directory_of(self, index: int) -> str:
        """Odd workers and readers use the second mount, when there is one."""
        return self.second if self.second and index % 2 else self.directory

    def other_directory(self, index: int) -> str | None:
        if not self.second:
            return None
        return self.directory if index % 2 else self.second

    @property
    def mountpoints(self) -> list[str]:
        return sorted({self.mountpoint or sw.mountpoint_of(self.directory)}
                      | ({sw.mountpoint_of(self.second)} if self.second else set()))


class Worker:
    def __init__(self, opts: Options, index: int, slots: sw.Slots) -> None:
        self.opts, self.index, self.slots = opts, index, slots
        self.rng = random.Random(f"{opts.seed}:{index}")
        self.sizer = index == 0
        floor = (opts.workers - 1) * REGION
        if self.sizer:
            self.lo, self.hi = floor, floor + (opts.max_size if opts.workers == 1 else 2 * REGION)
            self.model = bytearray()  # bytes lo..size
        else:
            self.lo, self.hi = (index - 1) * REGION, index * REGION
            self.model = bytearray(REGION)
        self.floor = floor
        self.names = opts.names_in(opts.directory_of(index))
        self.worker_names = self.names if opts.cross else self.names[:1]
        self.mount = f" mount{index % 2 + 1}" if opts.second else ""
        self.fds: dict[str, int] = {}
        self.number = 0
        self.log: list[str] = []

    @property
    def size(self) -> int:
        return self.lo + len(self.model) if self.sizer else self.hi

    # -- bookkeeping -----------------------------------------------------------------
    def begin(self, text: str) -> None:
        line = f"#{self.number} w{self.index}{self.mount} {text}"
        self.log = [*self.log[-19:], line]
        self.slots.begin(self.index, self.number, line)

    def fail(self, kind: str, detail: str) -> CheckFailed:
        head = (f"FSX {kind}: seed={self.opts.seed} worker={self.index} op #{self.number} "
                f"(workers={self.opts.workers} mmap={self.opts.mmap} link={self.opts.link}"
                f"{' two mounts' if self.opts.second else ''})")
        ops = "\n".join("    " + line for line in self.log)
        return CheckFailed(f"{head}\n{detail}\n  last {len(self.log)} ops of this worker:\n{ops}")

    def recheck(self, offset: int, expected: bytes) -> str:
        """After a mismatch: what fstat says now, and whether a read 1 s later is right."""
        fd = next(iter(self.fds.values()))
        try:
            size = os.fstat(fd).st_size
            time.sleep(1.0)
            again = os.pread(fd, len(expected), offset)
            late = os.fstat(fd).st_size
        except OSError as exc:
            return f"\n  recheck failed: {exc!r}"
        verdict = ("matches the model" if again == expected else
                   f"is still wrong ({len(again)} bytes, "
                   f"{sum(a != b for a, b in zip(again, expected, strict=False))} differ)")
        model = f"model 0x{self.size:x}" if self.sizer else f"at least 0x{self.floor:x}"
        return (f"\n  right after: fstat size 0x{size:x} ({model}); 1 s later: "
                f"fstat 0x{late:x}, the same pread {verdict}")

    def compare(self, kind: str, offset: int, expected: bytes, got: bytes) -> None:
        if got == expected:
            return
        if len(got) != len(expected) and got == expected[: len(got)]:
            raise self.fail(f"{kind} SHORT", f"  offset 0x{offset:x} wanted 0x{len(expected):x} "
                            f"bytes, got 0x{len(got):x} (model size 0x{self.size:x})"
                            + self.recheck(offset, expected))
        first = next(i for i in range(min(len(got), len(expected)) + 1)
                     if i >= min(len(got), len(expected)) or got[i] != expected[i])
        bad = sum(1 for a, b in zip(got, expected, strict=False) if a != b)
        at = offset + first
        hint = "zeros" if not any(got[first : first + 64]) else self.source(at, got[first:])
        raise self.fail(f"{kind} BAD DATA", (
            f"  offset 0x{offset:x} length 0x{len(expected):x} (got 0x{len(got):x}); first "
            f"difference at 0x{at:x} (+0x{first:x}), {bad} bytes differ\n"
            f"  expected: {expected[first : first + 16].hex(' ')}\n"
            f"  got:      {got[first : first + 16].hex(' ')}\n"
            f"  got bytes at 0x{at:x} look like: {hint}" + self.recheck(offset, expected)))

    def source(self, at: int, data: bytes) -> str:
        votes = [(b - (at + i) % 251) % 256 for i, b in enumerate(data[:64])]
        mod = max(set(votes), key=votes.count)
        ops = [line.split()[0] for line in self.log
               if line.split()[0][1:].isdigit() and int(line.split()[0][1:]) % 256 == mod]
        return f"data of a write #n with n%256={mod} (in the log: {ops or 'none'})"

    # -- choices ---------------------------------------------------------------------
    def offset(self, lo: int, hi: int) -> int:
        if hi <= lo:
            return lo
        if self.rng.random() < 0.4:  # around a 128 KiB boundary
            edge = self.rng.randrange(lo // (128 * KIB), hi // (128 * KIB) + 1) * 128 * KIB
            return min(max(edge + self.rng.randint(-4096, 4096), lo), hi - 1)
        return self.rng.randrange(lo, hi)

    def length(self, room: int) -> int:
        roll = self.rng.random()
        size = (self.rng.randint(1, 512) if roll < 0.3 else self.rng.randint(1, 64 * KIB)
                if roll < 0.85 else self.rng.randint(64 * KIB, 300 * KIB))
        return max(1, min(size, room))

    def fd(self) -> tuple[str, int]:
        name = self.rng.choice(sorted(self.fds))
        return os.path.basename(name), self.fds[name]

    # -- operations ------------------------------------------------------------------
    def start(self) -> int:
        """Where a write may start: anywhere in the region, or up to EOF without holes."""
        top = self.hi if self.opts.holes else min(self.hi - 1, self.size) + 1
        return self.offset(self.lo, top)

    def op_write(self) -> None:
        off = self.start()
        data = pattern(self.number, off, self.length(self.hi - off))
        name, fd = self.fd()
        self.begin(f"write 0x{off:x} +0x{len(data):x} via {name}")
        if (done := os.pwrite(fd, data, off)) != len(data):
            raise self.fail("SHORT WRITE", f"  pwrite returned {done} of {len(data)}")
        self.put(off, data)

    def put(self, off: int, data: bytes) -> None:
        rel = off - self.lo
        if rel + len(data) > len(self.model):
            self.model.extend(bytes(rel + len(data) - len(self.model)))
        self.model[rel : rel + len(data)] = data

    def op_read(self) -> None:
        off = self.offset(self.lo, max(self.size, self.lo + 1))
        length = self.length(self.hi - off)
        name, fd = self.fd()
        self.begin(f"read 0x{off:x} +0x{length:x} via {name}")
        got = os.pread(fd, length, off)
        self.compare("READ", off, bytes(self.model[off - self.lo : off - self.lo + length]), got)

    def op_truncate(self) -> None:
        top = self.hi if self.opts.holes else self.size
        size = self.lo + (0 if self.rng.random() < 0.05 else
                          self.offset(0, top - self.lo + 1))
        name, fd = self.fd()
        self.begin(f"truncate 0x{self.size:x} -> 0x{size:x} via {name}")
        os.ftruncate(fd, size)
        del self.model[size - self.lo :]
        self.model.extend(bytes(size - self.lo - len(self.model)))

    def op_mapread(self) -> None:
        if self.size <= self.lo:
            return self.op_read()
        off = self.offset(self.lo, self.size)
        length = self.length(self.size - off)
        base = off // PAGE * PAGE
        name, fd = self.fd()
        self.begin(f"mapread 0x{off:x} +0x{length:x} via {name}")
        with mmap.mmap(fd, off + length - base, mmap.MAP_SHARED, mmap.PROT_READ,
                       offset=base) as mapped:
            got = mapped[off - base : off - base + length]
        self.compare("MAPREAD", off, bytes(self.model[off - self.lo : off - self.lo + length]),
                     got)
        return None

    def op_mapwrite(self) -> None:
        off = self.start()
        data = pattern(self.number, off, self.length(self.hi - off))
        end, base = off + len(data), off // PAGE * PAGE
        name, fd = self.fd()
        self.begin(f"mapwrite 0x{off:x} +0x{len(data):x} via {name}"
                   + (f" (ftruncate to 0x{end:x} first)" if end > self.size else ""))
        if end > self.size:
            os.ftruncate(fd, end)
            self.model.extend(bytes(end - self.size))
        with mmap.mmap(fd, end - base, mmap.MAP_SHARED, offset=base) as mapped:
            mapped[off - base : end - base] = data
            mapped.flush()  # msync(MS_SYNC)
        self.put(off, data)

    def op_reopen(self) -> None:
        name = self.rng.choice(sorted(self.fds))
        trunc = self.opts.workers == 1 and self.rng.random() < 0.25
        self.begin(f"close+open{' O_TRUNC' if trunc else ''} {os.path.basename(name)}")
        os.close(self.fds.pop(name))
        self.fds[name] = os.open(name, os.O_RDWR | (os.O_TRUNC if trunc else 0))
        if trunc:
            self.model.clear()

    def op_fsync(self) -> None:
        name, fd = self.fd()
        self.begin(f"fsync via {name}")
        os.fsync(fd)

    def op_stat(self) -> None:
        name, fd = self.fd()
        path = self.rng.choice(self.worker_names)
        self.begin(f"fstat via {name}, stat {os.path.basename(path)}")
        for how, st in (("fstat", os.fstat(fd)), ("stat", os.stat(path))):
            wrong = st.st_size != self.size if self.sizer else st.st_size < self.floor
            if wrong:
                want = f"0x{self.size:x}" if self.sizer else f"at least 0x{self.floor:x}"
                raise self.fail("BAD SIZE", f"  {how}: st_size 0x{st.st_size:x}, model {want}"
                                + self.recheck(self.lo, bytes(self.model)))

    def run(self) -> None:
        for name in self.worker_names:
            self.fds[name] = os.open(name, os.O_RDWR)
        table = [(self.op_write, 30), (self.op_read, 25), (self.op_reopen, 4),
                 (self.op_fsync, 3), (self.op_stat, 8)]
        if self.sizer:
            table.append((self.op_truncate, 6))
        if self.opts.mmap:
            table += [(self.op_mapread, 10), (self.op_mapwrite, 8)]
        ops, weights = zip(*table, strict=True)
        for number in range(1, self.opts.ops + 1):
            self.number = number
            op = self.rng.choices(ops, weights)[0]
            try:
                op()
            except OSError as exc:
                raise self.fail("ERROR", f"  {exc!r}") from exc
            self.slots.end(self.index)
        self.number += 1
        self.begin("final: close all, reopen, read everything")
        for fd in self.fds.values():
            os.close(fd)
        names = self.names if self.opts.cross else self.names[::-1]
        other = self.opts.other_directory(self.index)
        if other is not None:  # close-to-open: a fresh open there shows what was closed here
            names = names + self.opts.names_in(other)
        for name in names:
            if name != names[0]:
                time.sleep(0.2)  # the other names learn of changes shortly after
            fd = os.open(name, os.O_RDONLY)
            got = os.pread(fd, len(self.model) + (4096 if self.sizer else 0), self.lo)
            os.close(fd)
            where = f" on {'the other' if name not in self.names else 'its'} mount" * bool(other)
            self.compare(f"FINAL READ via {os.path.basename(name)}{where}", self.lo,
                         bytes(self.model), got)
        self.slots.end(self.index)


def reader(opts: Options, index: int, slots: sw.Slots, stop: mmap.mmap) -> None:
    """Open/read/fstat/close the last name in a loop until told to stop."""
    rng, number = random.Random(f"{opts.seed}:r{index}"), 0
    name = opts.names_in(opts.directory_of(index))[-1]
    while not stop[0]:
        number += 1
        slots.begin(index, number, f"#{number} reader{index} open/pread/fstat/close "
                    f"{os.path.basename(name)}")
        fd = os.open(name, os.O_RDONLY)
        for _ in range(rng.randint(1, 4)):
            os.pread(fd, rng.randint(1, 256 * KIB), rng.randrange(0, opts.max_size))
        os.fstat(fd)
        os.close(fd)
        slots.end(index)
        time.sleep(rng.random() * 0.005)


def child(stop: mmap.mmap, body: object, *args: object) -> int:
    try:
        body(*args)  # type: ignore[operator]
        return 0
    except CheckFailed as exc:
        if not stop[1]:  # (after an abort the errors are not news)
            print(exc, file=sys.stderr, flush=True)
    except Exception as exc:  # anything else is a failure too
        if not stop[1]:
            print(f"FSX ERROR in {body}: {exc!r}", file=sys.stderr, flush=True)
    return 1


def run(opts: Options) -> int:
    """Set up the file, fork the workers and readers, watch them; returns the exit status."""
    started = time.monotonic()
    for name in reversed(opts.names):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    fd = os.open(opts.names[0], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, (opts.workers - 1) * REGION)
    os.close(fd)
    if opts.link:
        os.link(opts.names[0], opts.names[1])
    total = opts.workers + opts.readers
    slots, stop = sw.Slots(total), mmap.mmap(-1, PAGE)
    sys.stdout.flush()
    pids: list[int] = []
    if opts.threads:  # one child for all workers: each thread keeps its own slot
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            codes = [0] * opts.workers

            def body(i: int) -> None:
                codes[i] = child(stop, lambda: Worker(opts, i, slots).run())

            threads = [threading.Thread(target=body, args=(i,)) for i in range(opts.workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            os._exit(max(codes))
        pids += [pid] * opts.workers
    for index in range(opts.workers if opts.threads else 0, total):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if index < opts.workers:
                code = child(stop, lambda i=index: Worker(opts, i, slots).run())
            else:
                code = child(stop, reader, opts, index, slots, stop)
            os._exit(code)
        pids.append(pid)
    roles = [f"worker {i}" if i < opts.workers else f"reader {i}" for i in range(total)]
    title = (f"fsx seed={opts.seed} workers={opts.workers} mmap={opts.mmap} link={opts.link} "
             f"readers={opts.readers}" + ("" if opts.holes else " no-holes")
             + (" two-mounts" if opts.second else "") + (" threads" if opts.threads else ""))
    verdict, report = sw.watch(pids, roles, slots, stop, workers=opts.workers, hang=opts.hang,
                               mountpoints=opts.mountpoints, daemon_pids=opts.daemon_pids,
                               abort=opts.abort, title=title)
    elapsed = time.monotonic() - started
    if verdict == 0 and not opts.keep:
        for name in opts.names:
            os.unlink(name)
    print(f"FSX {report}" if report else f"FSX PASSED: {title}, {opts.ops} ops, {elapsed:.1f} s",
          flush=True)
    return verdict


@dataclass
class Result:
    code: int
    output: str
    seconds: float


def run_fsx(directory: str | os.PathLike[str], seed: int, *, timeout: float = 60.0,
            **kwargs: object) -> Result:
    """Run the checker in a subprocess (tests, bench/stress.py); a checker that does not
    end within ``timeout`` s is aborted like a hang (code 3)."""
    opts = Options(str(directory), seed, **kwargs)  # type: ignore[arg-type]
    cmd = [sys.executable, __file__, opts.directory, "--seed", str(seed), "--ops", str(opts.ops),
           "--workers", str(opts.workers), "--readers", str(opts.readers), "--hang",
           str(opts.hang), "--max-size", str(opts.max_size)]
    cmd += ["--mmap"] * opts.mmap + ["--link"] * opts.link + ["--abort"] * opts.abort
    cmd += ["--no-holes"] * (not opts.holes) + ["--one-name"] * (not opts.cross)
    cmd += [a for pid in opts.daemon_pids for a in ("--daemon-pid", str(pid))]
    cmd += ["--second", opts.second] if opts.second else []
    cmd += ["--threads"] * opts.threads
    started = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            note = (f"FSX HANG: the checker itself did not end within {timeout} s\n"
                    + sw.connection_state(opts.mountpoints) + "\n"
                    + sw.kernel_stacks([proc.pid, *opts.daemon_pids]) + "\n"
                    + "\n".join(sw.abort_mount(m) for m in opts.mountpoints))
            proc.kill()
            out, _ = proc.communicate(timeout=30)
            out, code = out + note.encode(), 3
    return Result(code, out.decode(errors="replace"), time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", action="store_true",
                   help="the workers are threads of one process, not processes")
    p.add_argument("--readers", type=int, default=0)
    p.add_argument("--mmap", action="store_true")
    p.add_argument("--link", action="store_true")
    p.add_argument("--max-size", type=int, default=1536 * KIB)
    p.add_argument("--hang", type=float, default=10.0, help="seconds one syscall may take")
    p.add_argument("--abort", action="store_true", help="abort the FUSE connection on a hang")
    p.add_argument("--daemon-pid", type=int, action="append", default=[])
    p.add_argument("--keep", action="store_true", help="keep the file after a passed run")
    p.add_argument("--no-holes", action="store_true",
                   help="never write past EOF nor truncate up (no sparse ranges)")
    p.add_argument("--one-name", action="store_true",
                   help="with --link: workers use the first name, readers the second")
    p.add_argument("--second", help="the same directory through a second mount: odd "
                   "workers and readers use it")
    a = p.parse_args(argv)
    return run(Options(a.directory, a.seed, a.ops, a.workers, a.mmap, a.link, a.readers,
                       a.max_size, a.hang, a.abort, None, a.daemon_pid, a.keep,
                       not a.no_holes, not a.one_name, a.second, a.threads))


if __name__ == "__main__":
    sys.exit(main())
