"""Hang detection for the stress checkers (fsx.py, nsstress.py): shared status slots,
kernel stacks, FUSE connection counters and aborting a stuck FUSE connection.

Workers are processes (a SIGBUS from an mmap read then kills one worker, not the
checker).  Each worker owns a slot in an anonymous shared mapping made before the
fork: the start time of the syscall it is in (0 when between calls) and a ring of its
last operations, so the driver can report a hang or a death with the worker's history
without asking the worker anything.  Nothing here touches a FUSE mount except the
abort, which only writes to /sys/fs/fuse/connections or calls umount2(MNT_FORCE).
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import signal
import struct
import subprocess
import time
from collections.abc import Iterable

SLOT = 8192
RING = 24  # operations kept per worker
LINE = 200  # bytes per remembered operation
_HEAD = struct.Struct("<dqq")  # op started (monotonic, 0 = idle), op count, pid


class Slots:
    """One status slot per worker in MAP_SHARED anonymous memory (survives fork)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.mem = mmap.mmap(-1, SLOT * count)

    def begin(self, worker: int, number: int, text: str) -> None:
        base = worker * SLOT
        line = text.encode()[: LINE - 1].ljust(LINE, b"\0")
        at = base + _HEAD.size + (number % RING) * LINE
        self.mem[at : at + LINE] = line
        self.mem[base : base + _HEAD.size] = _HEAD.pack(time.monotonic(), number, os.getpid())

    def end(self, worker: int) -> None:
        base = worker * SLOT
        self.mem[base : base + 8] = struct.pack("<d", 0.0)

    def head(self, worker: int) -> tuple[float, int, int]:
        base = worker * SLOT
        return _HEAD.unpack(self.mem[base : base + _HEAD.size])

    def history(self, worker: int) -> list[str]:
        """The worker's last operations, oldest first (the last one may still be running)."""
        _started, number, _pid = self.head(worker)
        base = worker * SLOT + _HEAD.size
        lines = []
        for n in range(max(0, number - RING + 1), number + 1):
            at = base + (n % RING) * LINE
            text = self.mem[at : at + LINE].rstrip(b"\0").decode(errors="replace")
            if text:
                lines.append(text)
        return lines

    def stuck(self, threshold: float) -> list[tuple[int, float]]:
        """Workers inside one call for longer than ``threshold`` s: (worker, seconds)."""
        now = time.monotonic()
        found = []
        for worker in range(self.count):
            started, _number, _pid = self.head(worker)
            if started and now - started > threshold:
                found.append((worker, now - started))
        return found


def fuse_connection(mountpoint: str) -> str | None:
    """The /sys/fs/fuse/connections name of the FUSE mount at ``mountpoint`` (from
    /proc/self/mountinfo, so a hung mount is never touched)."""
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields = line.split()
            if len(fields) > 8 and fields[4].replace("\\040", " ") == target:
                sep = fields.index("-")
                if fields[sep + 1].startswith("fuse"):
                    major, minor = fields[2].split(":")
                    return str(os.makedev(int(major), int(minor)))
    return None


def mountpoint_of(path: str) -> str:
    best, target = "/", os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if (target + "/").startswith(point.rstrip("/") + "/") and len(point) > len(best):
                best = point
    return best


def ensure_fusectl() -> bool:
    """Mount the fusectl filesystem if it is not (root only); True when it is there."""
    path = "/sys/fs/fuse/connections"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        if any(line.split()[2] == "fusectl" for line in mounts if len(line.split()) > 2):
            return True
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["mount", "-t", "fusectl", "fusectl", path], timeout=5, check=True,
                       capture_output=True)
        return True
    return False


def connection_state(mountpoints: Iterable[str]) -> str:
    """``waiting`` (requests not yet answered) of each mount's FUSE connection."""
    ensure_fusectl()
    out = []
    for mountpoint in mountpoints:
        conn = fuse_connection(mountpoint)
        waiting = "?"
        if conn is not None:
            path = f"/sys/fs/fuse/connections/{conn}/waiting"
            with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
                waiting = f.read().strip()
        out.append(f"{mountpoint}: fuse connection {conn}, waiting={waiting}")
    return "\n".join(out)


def abort_mount(mountpoint: str) -> str:
    """Abort the FUSE connection of ``mountpoint`` so every process stuck in it returns
    (ENOTCONN from then on).  The mount stays until it is unmounted."""
    conn = fuse_connection(mountpoint)
    if conn is None:
        return f"{mountpoint}: not a FUSE mount (any more)"
    if ensure_fusectl():
        try:
            with open(f"/sys/fs/fuse/connections/{conn}/abort", "w", encoding="utf-8") as f:
                f.write("1")
            return f"{mountpoint}: aborted fuse connection {conn}"
        except OSError as exc:
            note = f"fusectl abort failed ({exc}); "
    else:
        note = "no fusectl; "
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(os.fsencode(mountpoint), 1)  # MNT_FORCE: fuse_umount_begin aborts
    return f"{mountpoint}: {note}umount2(MNT_FORCE): {os.strerror(ctypes.get_errno())}"


def kernel_stacks(pids: Iterable[int]) -> str:
    """/proc/PID/task/TID/stack of every thread of ``pids`` in uninterruptible sleep (D),
    plus one summary line of the others (state and wchan), when readable."""
    out, others = [], []
    for pid in pids:
        try:
            tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/stat", encoding="utf-8") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(f"{base}/wchan", encoding="utf-8") as f:
                    wchan = f.read().strip()
            except OSError:
                continue
            if state != "D":
                others.append(f"{pid}/{tid}:{state}:{wchan}")
                continue
            stack = ""
            with contextlib.suppress(OSError), open(f"{base}/stack", encoding="utf-8") as f:
                stack = "".join("      " + line for line in f.readlines()[:14])
            out.append(f"  pid {pid} tid {tid} state D ({wchan})\n{stack}")
    if others:
        out.append("  not in D (pid/tid:state:wchan): " + " ".join(others))
    return "\n".join(out) or "  (no stacks readable)"


def bounded(cmd: list[str], timeout: float, mountpoints: Iterable[str]
            ) -> subprocess.CompletedProcess[str] | str:
    """Run ``cmd``; when it does not end within ``timeout`` s, abort the FUSE connections
    of ``mountpoints`` (a process killed inside an answered-to-be request would never die)
    and return a description of the hang instead of the result."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            points = list(mountpoints)
            note = (f"{' '.join(cmd)} did not end within {timeout} s\n"
                    + connection_state(points) + "\n" + kernel_stacks([proc.pid]) + "\n"
                    + "\n".join(abort_mount(p) for p in points))
            proc.kill()
            proc.communicate(timeout=30)
            return note


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def reap(pids: list[int], timeout: float) -> dict[int, int]:
    """waitpid the children until all are gone or ``timeout``; pid -> wait status."""
    done: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(set(pids)) and time.monotonic() < deadline:
        for pid in pids:
            if pid in done:
                continue
            with contextlib.suppress(ChildProcessError):
                got, status = os.waitpid(pid, os.WNOHANG)
                if got:
                    done[pid] = status
        time.sleep(0.02)
    return done


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        extra = " (SIGBUS: an mmap access found no data)" if sig == signal.SIGBUS else ""
        return f"killed by signal {sig} {name}{extra}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def history(slots: Slots, index: int, last: int = 20) -> str:
    return "\n    ".join(slots.history(index)[-last:])


def watch(pids: list[int], roles: list[str], slots: Slots, stop: mmap.mmap, *, workers: int,
          hang: float, mountpoints: list[str], daemon_pids: Iterable[int] = (),
          abort: bool = False, title: str = "") -> tuple[int, str]:
    """Wait for forked children ``pids`` (slot i belongs to pids[i], described by roles[i];
    threads of one child share its pid).

    The first ``workers`` children are the workers; when they are all done ``stop[0]`` is
    set so the others (readers, looping until told) end; ``stop[1]`` is set before an
    abort, so that workers do not report the ENOTCONN errors the abort causes.
    Returns (0, "") when every child exited 0; (1, report) when one failed or died by a
    signal (the others are killed);
    (3, report) when one was inside a syscall for longer than ``hang`` s: the report has
    the stuck workers' last operations, the FUSE connection counters and kernel stacks,
    and with ``abort`` the FUSE connections of ``mountpoints`` are aborted to free them.
    """
    started = time.monotonic()
    done: dict[int, int] = {}
    verdict, report = 0, ""
    while len(done) < len(set(pids)):
        done.update(reap([p for p in pids if p not in done], 0.1))
        if not stop[0] and all(p in done for p in pids[:workers]):
            stop[0] = 1
        failed = [i for i, p in enumerate(pids) if done.get(p, 0) != 0]
        if failed and not verdict:
            verdict, stop[0] = 1, 1
            report = "\n".join(
                f"FAILED: {title} {roles[i]} (pid {pids[i]}) {describe_status(done[pids[i]])}"
                + (f" during the last of:\n    {history(slots, i)}"
                   if os.WIFSIGNALED(done[pids[i]]) else "") for i in failed)
            kill_all([p for p in pids if p not in done])
        stuck = slots.stuck(hang)
        if stuck and verdict != 3:
            verdict, stop[0] = 3, 1
            lines = [report] if report else []  # a failure seen before the hang
            lines.append(f"HANG: {title}, {time.monotonic() - started:.1f} s into the run")
            for index, age in stuck:
                lines.append(f"  {roles[index]} (pid {pids[index]}) stuck for {age:.1f} s in "
                             f"the last of:\n    {history(slots, index)}")
            busy = [(i, age) for i, age in slots.stuck(0.0) if (i, age) not in stuck]
            lines += [f"  also inside a call: {roles[i]} (pid {pids[i]}) for {age:.1f} s: "
                      f"{slots.history(i)[-1]}" for i, age in busy
                      if all(i != j for j, _ in stuck)]
            lines.append(connection_state(mountpoints))
            lines.append("kernel stacks:\n" + kernel_stacks([*pids, *daemon_pids]))
            if abort:
                stop[1] = 1  # the workers' errors from here on are the abort's doing
                lines += [abort_mount(point) for point in mountpoints]
            report = "\n".join(lines)
            kill_all([p for p in pids if p not in done])
            done.update(reap([p for p in pids if p not in done], 10))
            if len(done) < len(set(pids)):
                report += (f"\n  {len(set(pids)) - len(done)} processes still stuck after "
                           "SIGKILL")
                break
    return verdict, report
