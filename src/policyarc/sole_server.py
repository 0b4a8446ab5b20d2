"""Whether this process is the only gateway serving a SQLite database file.

On SQLite there is no channel between processes (notify.py), so a token revoked through one process reaches the
caches of another only when their entries age out. A process that is the only server of its file, though, makes
every revocation itself and hears of it at once: its caches may trust their entries longer (oauth/resolver.py,
vault.py). This module tells the two cases apart, with nothing but files beside the database:

    <database>.servers/<pid>-<random>    one per serving process, held under flock(LOCK_EX) while it lives

`check()` looks at the others' files: one still locked is a live server (another `policyarc serve`, or a worker
of `--workers N`), so this one is not alone; one that can be locked is left over by a process that died, and is
removed. The kernel drops a dead process's locks, so a crash cannot make a server look alive forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path

__all__ = ["SoleServer"]


class SoleServer:
    def __init__(self, database: Path) -> None:
        self._directory = database.with_name(database.name + ".servers")
        self._fd: int | None = None
        self._name = ""

    def enter(self) -> None:
        """Register this process as a server of the database (idempotent)."""
        if self._fd is not None:
            return
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._name = f"{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(self._directory / self._name, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: nobody else can hold it
        self._fd = fd

    def alone(self) -> bool:
        """True when no other live process is registered; removes what dead ones left behind."""
        if self._fd is None:
            return False
        try:
            names = os.listdir(self._directory)
        except OSError:
            return False  # cannot tell: assume company, which only keeps the shorter cache bounds
        others = (self._directory / name for name in names if name != self._name)
        return not any(_held(path) for path in others)

    def exit(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self._directory / self._name)
        os.close(self._fd)  # releases the lock
        self._fd = None


def _held(path: Path) -> bool:
    """Whether a live process holds `path`'s lock; an unheld file (its owner died) is removed."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False  # its owner exited meanwhile
    except OSError:
        return True  # cannot open it: assume it is alive
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False
    finally:
        os.close(fd)
