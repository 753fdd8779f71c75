"""Who holds a journal: a process (pid, host, start time), and whether it still runs.

A SIGKILL leaves no chance to release a lock, so a lock names its holder and the next opener
checks whether that process is still alive. A pid alone can lie: pids are reused, and in a
container the restarted program often gets the very pid it had before. So the holder also
records when its process started (Linux: the boot id and the start time in ``/proc``), and a
process of this interpreter records the locks it holds itself.
"""

from __future__ import annotations

import os
import platform
import secrets
from datetime import UTC, datetime
from pathlib import Path

import attrs

__all__ = ["Holder", "forget", "held_here", "is_alive", "this_process"]

# Tokens of the locks this process holds: a lock naming our own pid is ours only if its token
# is here; otherwise an earlier process that had our pid left it behind.
_HELD_HERE: set[str] = set()


@attrs.frozen
class Holder:
    """The process holding a journal.

    Attributes:
        pid: its process id.
        host: the machine it runs on.
        started: when it started, as the system tells (None where that cannot be read).
        token: a random string naming this hold (two holds by one process differ).
        since: when it took the journal (UTC, ISO 8601).
    """

    pid: int
    host: str
    started: str | None
    token: str
    since: str

    def describe(self) -> str:
        """``pid 4242 on host build-7 since 2026-05-19T14:02:02+00:00``."""
        return f"pid {self.pid} on host {self.host} since {self.since}"


def this_process() -> Holder:
    """A new hold by this process (remember it with ``held_here``)."""
    pid = os.getpid()
    return Holder(
        pid=pid,
        host=platform.node(),
        started=_started(pid),
        token=secrets.token_hex(16),
        since=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def held_here(holder: Holder) -> None:
    """Note that this process holds ``holder``'s lock."""
    _HELD_HERE.add(holder.token)


def forget(holder: Holder) -> None:
    """Note that this process no longer holds ``holder``'s lock."""
    _HELD_HERE.discard(holder.token)


def is_alive(holder: Holder) -> bool | None:
    """Whether the holding process still runs; None when that cannot be told from here.

    A holder on another host cannot be checked (None). One with our pid is alive only if this
    process took that lock itself. Otherwise the pid must exist and, where the start time can
    be read, be the same process that took the lock (not a later one given the same pid).
    """
    if holder.host != platform.node():
        return None
    if holder.pid == os.getpid():
        return holder.token in _HELD_HERE
    if not _exists(holder.pid):
        return False
    started = _started(holder.pid)
    return started is None or holder.started is None or started == holder.started


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists is checked
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, and belongs to another user
    except OSError:
        return False  # an impossible pid (0, negative, too large)
    return True


def _started(pid: int) -> str | None:
    """The boot id and start time of a process (Linux), or None where they cannot be read."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    start_time_field = 22 - 3  # field 22 of stat(5), counted from field 3
    if len(fields) <= start_time_field:
        return None
    return f"{boot}:{fields[start_time_field]}"
