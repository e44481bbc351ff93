"""One training run per run directory (`Global.output_dir/<Arch.name>/`).

Two `train` processes writing into one directory (a resume started while the first run is still
training) would interleave config.yaml, VisualDL records, checkpoints and the `latest` link.
`run_lock(root)` holds `root/.lock` while a run lasts:

* the lock file is created atomically (written under a temporary name, then hard-linked into
  place, which fails if it exists) and records the holder: pid, host, process start time, start
  date and command line;
* a second run finds it and raises `RunDirLocked` naming the running process;
* a lock left by a run that died without cleaning up (SIGKILL, power loss) is *stale* when its
  host is this machine and its process no longer exists (or the pid now belongs to a process
  started at another time): it is taken over with a warning;
* the lock is removed when the run ends, also by an exception; only the holder removes it.

In data-parallel runs only rank 0 writes, so only rank 0 takes the lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import time

from .._safe_files import open_regular

__all__ = ["RunDirLocked", "run_lock", "clean_leftovers", "LOCK_NAME"]

logger = logging.getLogger("paddle_inception")

LOCK_NAME = ".lock"
_MAX_LOCK_BYTES = 64 * 1024


class RunDirLocked(ValueError):
    """Another live run holds the run directory; the message names its pid, host and command."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks since boot, /proc/<pid>/stat field
    22), or None where /proc is not available. Tells a live holder from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces or ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    """Is the process that wrote a lock on this host still running?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    if start is not None:
        now = _start_time(pid)
        if now is not None and now != start:
            return False  # the pid was reused by a later process
    return True


def _read_lock(path: str) -> dict | None:
    """The holder recorded in a lock file; {} if unreadable/garbled; None if it is gone."""
    try:
        with open_regular(path) as f:  # a FIFO in its place must not block the run
            raw = f.read(_MAX_LOCK_BYTES)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # unreadable, or not a regular file
        return {}
    try:
        info = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict) -> str:
    cmd = info.get("command")
    cmd = " ".join(str(c) for c in cmd) if isinstance(cmd, list) else None
    if cmd and len(cmd) > 300:
        cmd = cmd[:297] + "..."
    parts = [f"pid {info.get('pid', '?')} on {info.get('host', '?')}"]
    if info.get("started"):
        parts.append(f"started {info['started']}")
    if cmd:
        parts.append(f"command: {cmd}")
    return ", ".join(parts)


def _create(path: str, info: dict) -> bool:
    """Atomically create `path` holding `info`; False if it already exists."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails with FileExistsError if a lock is there: no half-written lock
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive create instead
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f)
        return True
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


_LEFTOVER = re.compile(r"^\.(epoch_\d+)\.(tmp|old)-\d+$|^\.(latest|best)\.tmp-\d+$")


def clean_leftovers(root: str) -> list:
    """Remove what killed runs left in `root` (call it holding the run lock: no live run writes
    there): `.epoch_NNNN.tmp-PID` directories of interrupted saves and `.latest.tmp-PID` links,
    whatever PID they carry. A `.epoch_NNNN.old-PID` (a complete older checkpoint set aside while
    its epoch was rewritten) is put back when `epoch_NNNN` is missing, else removed. Returns
    the names removed."""
    removed = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return removed
    for name in names:
        m = _LEFTOVER.match(name)
        if not m:
            continue
        path = os.path.join(root, name)
        if m.group(2) == "old" and not os.path.lexists(os.path.join(root, m.group(1))):
            with contextlib.suppress(OSError):  # killed between its two renames: put it back
                os.replace(path, os.path.join(root, m.group(1)))
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(path)
        removed.append(name)
    return removed


@contextlib.contextmanager
def run_lock(root: str, enabled: bool = True):
    """Hold `root/.lock` for the duration of the block (creating `root`). Raises RunDirLocked
    when a live run holds it; takes over a stale lock with a warning."""
    if not enabled:
        yield None
        return
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, LOCK_NAME)
    host = socket.gethostname()
    me = {
        "pid": os.getpid(),
        "host": host,
        "proc_start": _start_time(os.getpid()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": [sys.executable] + sys.argv,
    }
    for _ in range(5):
        if _create(path, me):
            break
        holder = _read_lock(path)
        if holder is None:
            continue  # released meanwhile: try again
        if holder == {}:
            # garbled (e.g. written by hand): we cannot tell whether its run lives
            raise RunDirLocked(
                f"run directory {root} is locked by {path}, which does not say which process "
                f"holds it; if no run is using this directory, delete {path}"
            )
        pid = holder.get("pid")
        if holder.get("host") != host:
            raise RunDirLocked(
                f"run directory {root} is in use by another training run ({_describe(holder)}); "
                f"it runs on another machine, so it cannot be checked from here: use another "
                f"Global.output_dir, or delete {path} if that run is over",
                holder,
            )
        if isinstance(pid, int) and _alive(pid, holder.get("proc_start")):
            raise RunDirLocked(
                f"run directory {root} is in use by another training run ({_describe(holder)}); "
                f"wait for it to finish or stop it, or use another Global.output_dir",
                holder,
            )
        logger.warning(
            "taking over the stale lock %s of a run that is no longer running (%s)",
            path,
            _describe(holder),
        )
        # move it aside, and check that what was moved is the stale lock just read (another
        # starting run may have taken it over first: then put its lock back)
        aside = f"{path}.stale-{os.getpid()}"
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            continue
        if _read_lock(aside) != holder:
            with contextlib.suppress(OSError):
                os.link(aside, path)
        with contextlib.suppress(OSError):
            os.remove(aside)
    else:
        raise RunDirLocked(f"run directory {root}: could not take the lock {path}")
    try:
        removed = clean_leftovers(root)
        if removed:
            logger.info(
                "removed %d leftover(s) of interrupted checkpoint saves in %s: %s",
                len(removed),
                root,
                ", ".join(removed[:5]) + (", ..." if len(removed) > 5 else ""),
            )
        yield path
    finally:
        if (_read_lock(path) or {}).get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                os.remove(path)
