"""Work in a forked child while the caller goes on: the validator's reading of vector files and
the stat of each of them are system calls more than Python, and overlap the parsing of the logs.

On Linux, with more than one core and no other thread in this process (a fork copies only the
calling thread), the work runs in a forked child that sends its result back over a pipe, with
progress on the way. Anywhere else, or if the child fails for any reason, it runs in the waiting
function instead: the result is the same either way.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from curalog.progress import Progress

T = TypeVar("T")


def in_background(work: Callable[[Progress | None], T], progress: Progress | None = None, *,
                  worth_it: bool = True) -> Callable[[], T]:  # fmt: skip
    """Start ``work(report)``; returns the function that waits for its result (once, then the
    same result again). ``worth_it=False`` runs it in the waiting function."""
    usable = (
        worth_it and sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
    )  # fmt: skip
    if not usable:
        return _once(lambda: work(progress))
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
            os.waitpid(pid, 0)
        return result[0] if result is not None else work(progress)

    return _once(wait)


def _once(fn: Callable[[], T]) -> Callable[[], T]:
    done: list[T] = []

    def call() -> T:
        if not done:
            done.append(fn())
        return done[0]

    return call
