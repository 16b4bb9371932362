"""Work in a forked child while the caller goes on: the validator's reading of vector files and
the stat of each of them are system calls more than Python, and overlap the parsing of the logs.

On Linux, with more than one core and no other thread in this process (a fork copies only the
calling thread), the work runs in a forked child that sends its result back over a pipe, with
progress on the way. Anywhere else, or if the child fails for any reason, it runs in the waiting
function instead: the result is the same either way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from curalog.progress import Progress

T = TypeVar("T")


class Pending(Generic[T]):
    """Waits for the work ``in_background`` started: call it for the result (once, then the same
    result again); ``close()`` (on an error path) lets the work go and reaps its child."""

    def __init__(self, wait: Callable[[], T], close: Callable[[], None] = lambda: None) -> None:
        self._wait, self._close, self._done = wait, close, False
        self._result: list[T] = []

    def __call__(self) -> T:
        if not self._result:
            self._result.append(self._wait())
            self._done = True
        return self._result[0]

    def close(self) -> None:
        """Stop waiting: the child finishes (its result goes nowhere) and is reaped."""
        if not self._done:
            self._done = True
            self._close()


def in_background(work: Callable[[Progress | None], T], progress: Progress | None = None, *,
                  worth_it: bool = True) -> Pending[T]:  # fmt: skip
    """Start ``work(report)``; returns what waits for its result. ``worth_it=False`` runs it in
    the waiting call."""
    usable = (
        worth_it and sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
    )  # fmt: skip
    if not usable:
        return Pending(lambda: work(progress))
    receiver, sender = multiprocessing.Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the child: never returns, whatever happens
        status = 0
        try:
            receiver.close()

            def report(n: int, total: int, what: str) -> None:
                sender.send(("progress", n, total, what))

            sender.send(("done", work(report if progress else None)))
        except BaseException:  # anything at all: the parent redoes the work
            status = 1
        finally:
            os._exit(status)
    sender.close()

    def wait() -> T:
        result: tuple[T] | None = None
        try:
            while True:
                message = receiver.recv()
                if message[0] == "progress":
                    if progress:
                        progress(*message[1:])
                    continue
                result = (message[1],)
                break
        except (EOFError, OSError):
            result = None  # the child died: do it here
        finally:
            receiver.close()
            _reap(pid)
        return result[0] if result is not None else work(progress)

    def close() -> None:
        receiver.close()  # the child's send fails, and it exits
        _reap(pid)

    return Pending(wait, close)


def _reap(pid: int) -> None:
    """Wait for the child ``pid`` to end; a caller that ignores SIGCHLD (or reaps its children
    itself) has the kernel reap it first, and nothing is left to wait for."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
