"""One writer per target: a lock file next to each output (store, forecast, run, sample), naming its holder.

The lock is ``<parent>/.<name>.lock``, created with ``O_CREAT | O_EXCL`` (atomic on local disks and on
NFSv3+/SMB, where ``flock`` is not reliable) and holding pid, host, process start time and command, so
a second writer can say who holds it. Hand-written rather than the `filelock` package because the error
must name the other process and stale locks must be recognised: a lock is stale when its process is gone
(same host: pid dead or reused, checked by process start time) or, for a holder on another host, when
its heartbeat (the file's mtime, refreshed every `HEARTBEAT_S`) is older than `STALE_AFTER_S`.

Object storage (gs://, s3://) has no lock files: geostp writes only local paths, and a remote store is
written by one writer at a time (single-writer rule, docs/robustness.md).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from geostp.errors import LockedError

HEARTBEAT_S = 30.0
STALE_AFTER_S = 180.0  # a lock from another host not refreshed for this long is stale
TORN_AFTER_S = 10.0  # an empty/unreadable lock file (writer killed while creating it) older than this is stale
POLL_S = 0.2


def lock_path(target: str | Path) -> Path:
    """The lock file of `target`: a hidden sibling ``.<name>.lock``."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - no such process, no access, no psutil
        return None


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in the lock file."""

    pid: int
    host: str
    started: float
    proc_start: float | None
    command: str
    token: str

    @classmethod
    def me(cls) -> Holder:
        pid = os.getpid()
        cmd = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
        return cls(pid, socket.gethostname(), time.time(), _start_time(pid), cmd, uuid.uuid4().hex)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        """The holder recorded in `path`; None when it is empty or torn."""
        try:
            d = json.loads(path.read_text())
            return cls(int(d["pid"]), str(d["host"]), float(d["started"]), d.get("proc_start"), str(d["command"]),
                       str(d["token"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        since = _dt.datetime.fromtimestamp(self.started, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} on {self.host} (`{self.command}`, since {since})"

    def alive(self, lock_mtime: float) -> bool:
        """Whether the holding process still runs (other hosts: whether its heartbeat is recent)."""
        if self.host != socket.gethostname():
            return time.time() - lock_mtime < STALE_AFTER_S
        start = _start_time(self.pid)
        if start is None:
            return False
        return self.proc_start is None or abs(start - float(self.proc_start)) < 1.0  # pid reused: another process


def lock_status(target: str | Path) -> tuple[Holder | None, bool]:
    """(holder or None, whether that holder is alive) for `target`'s lock file."""
    path = lock_path(target)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None, False
    holder = Holder.read(path)
    if holder is None:
        return None, time.time() - mtime < TORN_AFTER_S
    return holder, holder.alive(mtime)


# locks this process holds: lock path -> [holder, depth, owning thread]; re-entering from the same thread nests
_HELD: dict[str, list] = {}
_HELD_GUARD = threading.Lock()


def _try_create(path: Path, holder: Holder) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(holder.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _break_stale(path: Path, seen: str) -> None:
    """Remove a stale lock whose content is still `seen`, under a short-lived breaker lock (so two processes
    breaking the same stale lock cannot remove the fresh lock one of them just took)."""
    breaker = path.with_name(path.name + ".break")
    try:
        fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(OSError):
            if time.time() - breaker.stat().st_mtime > TORN_AFTER_S:
                breaker.unlink()
        return
    os.close(fd)
    try:
        with contextlib.suppress(OSError):
            if path.read_text() == seen:
                path.unlink()
    finally:
        with contextlib.suppress(OSError):
            breaker.unlink()


def _heartbeat(path: Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(OSError):
            os.utime(path)


def notice(message: str) -> None:
    """A one-line note on stderr (waiting, fallbacks, skipped items)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def target_lock(target: str | Path, wait: bool = False, timeout: float | None = None,
                what: str = "written") -> Iterator[Holder | None]:
    """Hold the lock of `target` for the block; re-entrant within one thread.

    Another live holder: LockedError naming it, or (with `wait`) poll until it is released. A stale lock
    (its process is gone) is replaced.
    """
    from geostp.storage import is_url

    if is_url(target):  # object storage has no lock files: the single-writer rule applies (docs/scaling.md)
        yield None
        return
    path = lock_path(target)
    key = str(path.absolute())
    me = threading.get_ident()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None and held[2] == me:
            held[1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield held[0]
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    holder = _acquire(path, Path(target), wait, timeout, what)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, stop), daemon=True)
    beat.start()
    with _HELD_GUARD:
        _HELD[key] = [holder, 1, me]
    try:
        yield holder
    finally:
        stop.set()
        with _HELD_GUARD:
            _HELD.pop(key, None)
        current = Holder.read(path)
        if current is not None and current.token == holder.token:
            with contextlib.suppress(OSError):
                path.unlink()


def _acquire(path: Path, target: Path, wait: bool, timeout: float | None, what: str) -> Holder:
    from geostp.io import ensure_parent, write_errors

    ensure_parent(target)
    holder = Holder.me()
    t0 = time.monotonic()
    told = False
    while True:
        with write_errors(target):  # a read-only or full parent folder: one line
            if _try_create(path, holder):
                return holder
        try:
            seen = path.read_text()
            mtime = path.stat().st_mtime
        except OSError:
            continue  # released between our attempts: try again
        other = Holder.read(path)
        stale = (time.time() - mtime >= TORN_AFTER_S) if other is None else not other.alive(mtime)
        if stale:
            _break_stale(path, seen)
            continue
        who = other.describe() if other is not None else "a process that is just starting"
        if not wait or (timeout is not None and time.monotonic() - t0 > timeout):
            raise LockedError(
                f"{target} is being {what} by another geostp process: {who}; wait for it to finish, pass --wait "
                f"to queue behind it, or, if that process no longer runs, remove {path}"
            )
        if not told:
            notice(f"waiting for {who}, which is writing {target}")
            told = True
        time.sleep(POLL_S)


def is_locked(target: str | Path) -> bool:
    """Whether a live process holds `target`'s lock."""
    return lock_status(target)[1]
