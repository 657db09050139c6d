"""Soak runs of the stress checkers (tests/fsx.py, tests/nsstress.py); prints a summary.

Against mounts you made yourself::

    python bench/stress.py /mnt/redis -N 50 --ops 5000            # fsx, every mode, 50 seeds
    python bench/stress.py /mnt/a --second /mnt/b --ns-seconds 60  # + the two-mount storm

or let it start a private redis-server and the daemons (``--spawn``, with the small write
buffer that makes background saves frequent; a fresh filesystem per run, so a hang
or corruption does not spoil the next run)::

    python bench/stress.py --spawn -N 20 --modes workers,link --daemon-arg=--write-buffer=65536

Modes: ``plain`` (one process), ``mmap``, ``workers`` (4 workers on one file), ``link``
(writes through one hard-link name, 2 reader processes on the other), ``link-cross``
(every op picks a name), ``all`` (3
workers, mmap, links, a reader), ``nohole``, ``nohole-mmap``, ``nohole-workers`` (never
a sparse range), ``threads`` (4 workers as threads of one process, mmap, links, a
reader), ``ns`` (the namespace storm) and ``2m-workers``, ``2m-mmap``,
``2m-all``, ``2m-nohole``, ``2m-threads`` (fsx workers split over two mounts); these
need --second or --spawn.  A run that hangs is aborted (the FUSE connection) and
counted as HANG; with --spawn the next run gets new mounts.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fsx import run_fsx
from nsstress import post_checks, run_nsstress

from redisfs_tui.core import FileSystem
from redisfs_tui.core.local_server import LocalRedis
from redisfs_tui.mount import spawn

MODES = {
    "plain": {},
    "mmap": {"mmap": True},
    "workers": {"workers": 4},
    "link": {"link": True, "readers": 2, "cross": False},
    "link-cross": {"link": True, "readers": 2},
    "all": {"workers": 3, "mmap": True, "link": True, "readers": 1, "cross": False},
    "nohole": {"holes": False},
    "nohole-mmap": {"holes": False, "mmap": True},
    "nohole-workers": {"holes": False, "workers": 4},
    "threads": {"workers": 4, "threads": True, "mmap": True, "link": True, "readers": 1},
}
# fsx with the workers split over two mounts (needs --second or --spawn)
TWO_MOUNT_MODES = {
    "2m-workers": {"workers": 4},
    "2m-mmap": {"workers": 4, "mmap": True},
    "2m-all": {"workers": 3, "mmap": True, "link": True, "readers": 2},
    "2m-nohole": {"workers": 4, "holes": False},
    "2m-threads": {"workers": 4, "threads": True, "mmap": True, "link": True, "readers": 1},
}
VERDICT = {0: "PASS", 1: "FAIL", 3: "HANG"}


class Spawned:
    """A private redis-server; each run gets a fresh prefix mounted once or twice."""

    def __init__(self, workdir: Path, daemon_args: list[str]) -> None:
        self.workdir, self.args = workdir, daemon_args
        self.server = LocalRedis(workdir / "redis").start()
        self.count = 0

    @contextlib.contextmanager
    def mounts(self, how_many: int) -> Iterator[tuple[list[Path], list[int], list[Path]]]:
        self.count += 1
        prefix = f"s{self.count}"
        client = redis.Redis.from_url(self.server.url)
        FileSystem.mkfs(client, prefix, uid=0, gid=0)
        client.close()
        points, procs, logs = [], [], []
        try:
            for n in range(how_many):
                point = self.workdir / f"{prefix}-m{n}"
                point.mkdir()
                log = self.workdir / f"{prefix}-m{n}.log"
                procs.append(spawn.spawn(["--url", self.server.url, "--prefix", prefix,
                                          "--mount", str(point), "--log-file", str(log),
                                          *self.args], point, log_path=str(log)))
                points.append(point)
                logs.append(log)
            yield points, [p.pid for p in procs], logs
        finally:
            for proc, point in zip(procs, points, strict=False):
                spawn.stop(proc, point)

    def close(self) -> None:
        self.server.stop()


def log_problems(logs: list[Path]) -> list[str]:
    out = []
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for needle in ("Traceback", "lost buffered data"):
            if text.count(needle):
                out.append(f"{log.name}: {text.count(needle)} x {needle!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mount", nargs="?", help="a directory on the mount under test")
    p.add_argument("--second", help="the same directory through a second mount (for ns)")
    p.add_argument("--spawn", action="store_true", help="start redis and the daemons here")
    p.add_argument("--daemon-arg", action="append", default=[],
                   help="extra daemon argument with --spawn (default --write-buffer=65536)")
    p.add_argument("-N", "--seeds", type=int, default=10, help="seeds per mode")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--ops", type=int, default=3000)
    p.add_argument("--modes", default="plain,mmap,workers,link,all,ns")
    p.add_argument("--ns-seconds", type=float, default=60.0)
    p.add_argument("--ns-no-links", action="store_true", help="the storm without link(2)")
    p.add_argument("--hang", type=float, default=20.0)
    p.add_argument("-v", "--verbose", action="store_true", help="print every failure in full")
    a = p.parse_args(argv)
    modes = a.modes.split(",")
    if not a.spawn and not a.mount:
        p.error("give a MOUNT directory or --spawn")
    spawned = None
    if a.spawn:
        workdir = Path(tempfile.mkdtemp(prefix="redisfs-stress-"))
        spawned = Spawned(workdir, a.daemon_arg or ["--write-buffer=65536"])
        print(f"redis {spawned.server.url}, mounts and logs under {workdir}")
    tally: dict[str, Counter[str]] = {}
    firsts: list[str] = []
    try:
        for mode in modes:
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                two = mode == "ns" or mode in TWO_MOUNT_MODES
                if two and not (spawned or a.second):
                    print(f"{mode}: skipped (needs --second or --spawn)")
                    break
                with (spawned.mounts(2 if two else 1) if spawned else
                      contextlib.nullcontext(([Path(a.mount), *(
                          [Path(a.second)] if a.second else [])], [], []))) as (dirs, pids, logs):
                    if mode in TWO_MOUNT_MODES:
                        result = run_fsx(dirs[0], seed, ops=a.ops, hang=a.hang, abort=True,
                                         daemon_pids=pids, timeout=600, second=str(dirs[1]),
                                         **TWO_MOUNT_MODES[mode])
                        extra = []
                    elif two:
                        (dirs[0] / f"storm{seed}").mkdir()
                        storm = [d / f"storm{seed}" for d in dirs[:2]]
                        result = run_nsstress(storm, seed=seed, seconds=a.ns_seconds,
                                              hang=a.hang, abort=True, daemon_pids=pids,
                                              links=not a.ns_no_links,
                                              timeout=a.ns_seconds + 4 * a.hang)
                        extra = post_checks(storm) if result.code != 3 else []
                    else:
                        result = run_fsx(dirs[0], seed, ops=a.ops, hang=a.hang, abort=True,
                                         daemon_pids=pids, timeout=600, **MODES[mode])
                        extra = []
                    extra += log_problems(logs)
                verdict = VERDICT.get(result.code, f"exit {result.code}")
                if verdict == "PASS" and extra:
                    verdict = "FAIL"
                tally.setdefault(mode, Counter())[verdict] += 1
                first = next((line for line in result.output.splitlines()
                              if line.startswith(("FSX", "NSSTRESS", "HANG"))
                              and "PASSED" not in line), "")
                print(f"{mode:10} seed {seed:4}: {verdict} {result.seconds:6.1f} s  {first}"
                      + (f"  [{'; '.join(extra)}]" if extra else ""), flush=True)
                if verdict != "PASS":
                    firsts.append(f"--- {mode} seed {seed}\n{result.output}")
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        if spawned:
            spawned.close()
    print("\nsummary:")
    for mode, counts in tally.items():
        print(f"  {mode:10} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if a.verbose:
        print("\n".join(firsts))
    return 0 if all(set(c) == {"PASS"} for c in tally.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
