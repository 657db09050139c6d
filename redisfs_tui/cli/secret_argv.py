"""Keep a password out of a command's own argv (``/proc/PID/cmdline``, ``ps``).

Every entry point (``redisfs``, ``redisfs-ui``, ``redisfs-snapshot``) calls
:func:`hide_password` first: given a password on the command line (a flag, an ``-o``
item or in a URL), the process re-executes itself as ``python -m MODULE`` with the
scrubbed argv and reads the real arguments from an anonymous memory file (memfd).
"""

from __future__ import annotations

import json
import os
import re
import sys

# the re-executed process finds its real arguments on this descriptor (see hide_password)
ARGV_FD_ENV = "REDISFS_ARGV_FD"


def _without_password(text: str) -> str:
    """An ``-o a,b,password=x`` item list without its password."""
    return ",".join(item for item in text.split(",") if not item.startswith("password="))


# the userinfo of a URL, up to the last "@" before the path (or the next -o item)
_URL_USERINFO = re.compile(r"://([^/?#,]*)@")


def _url_without_password(match: re.Match[str]) -> str:
    user, has_password, _ = match.group(1).partition(":")
    if not has_password:
        return match.group(0)
    return f"://{user}@" if user else "://"


def scrub_argv(argv: list[str]) -> list[str]:
    """argv with every password taken out: ``--password X``, ``-o password=X`` and the
    password of any URL (``--url=redis://user:X@host``, ``-o url=...``)."""
    clean: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--password":
            next(args, None)
        elif arg.startswith("--password="):
            pass
        elif arg == "-o":
            text = _without_password(next(args, ""))
            if text:
                clean += ["-o", text]
        elif arg.startswith("-o"):
            text = _without_password(arg[2:])
            if text:
                clean.append("-o" + text)
        else:
            clean.append(arg)
    return [_URL_USERINFO.sub(_url_without_password, arg) for arg in clean]


def hide_password(argv: list[str], module: str, program: str) -> list[str]:
    """The arguments to parse, after making sure no password stays in this process's
    argv (world-readable in /proc/PID/cmdline and ``ps`` for the life of the mount).

    When argv holds one, the process re-executes itself with the scrubbed argv and
    hands the real arguments over in an anonymous memory file (memfd) whose descriptor
    number is in $REDISFS_ARGV_FD: it is read and closed at once, so neither argv nor
    the environment keeps the password.
    """
    inherited = os.environ.pop(ARGV_FD_ENV, None)
    if inherited is not None:
        return _read_argv(inherited, program)
    clean = scrub_argv(argv)
    if clean == argv:
        return argv
    payload = json.dumps(argv).encode()
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("redisfs-argv", 0)  # no MFD_CLOEXEC: exec keeps it open
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    else:  # a pipe holds 64 KiB before write() blocks; argv is far smaller in practice
        fd, write_end = os.pipe()
        os.write(write_end, payload)
        os.close(write_end)
        os.set_inheritable(fd, True)
    env = dict(os.environ)
    env[ARGV_FD_ENV] = str(fd)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *clean], env)
    raise AssertionError("execve returned")


def _read_argv(fd_text: str, program: str) -> list[str]:
    try:
        with os.fdopen(int(fd_text), "rb") as handle:
            argv = json.loads(handle.read(1 << 20))
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("not a list of strings")
    except (OSError, ValueError) as exc:
        print(f"{program}: error: cannot read the arguments from ${ARGV_FD_ENV}={fd_text}: "
              f"{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return argv
