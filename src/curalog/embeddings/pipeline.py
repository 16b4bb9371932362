"""The decode stage of ``curalog embed``: images decoded and preprocessed in worker processes,
results handed back in order, a bounded number in flight (so memory stays flat), and a
per-image timeout: a decode that hangs is killed with its worker and recorded, and the run goes
on (the failure clip-retrieval #257 describes, where one bad file stalls everything).

Workers are forked on Linux, as PyTorch's DataLoader does, and spawned elsewhere. Pebble
(a small, maintained library) supplies the pool with per-task timeouts and worker restarts.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any

import numpy as np

from curalog.embeddings.preprocess import ClipPrep, decode_job

Decoded = tuple[Any, np.ndarray | None, str]  # (key, pixels or None, why not)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class DecodePool:
    """``map`` decodes ``(key, path)`` items into ``(key, pixels, reason)``, in order.

    ``workers=None`` decodes in this process (no pool, no timeout): for tiny jobs and tests.
    """

    def __init__(
        self, prep: ClipPrep, workers: int | None = 0, timeout: float = 30.0, ahead: int = 8
    ) -> None:
        self.prep = prep
        self.workers = default_workers() if workers == 0 else workers
        self.timeout = timeout
        self.ahead = ahead
        self._pool: Any = None

    def __enter__(self) -> DecodePool:
        if self.workers is not None:
            from pebble import ProcessPool

            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self._pool = ProcessPool(max_workers=self.workers, context=multiprocessing.get_context(method))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    def map(self, items: Iterable[tuple[Any, str]]) -> Iterator[Decoded]:
        job = partial(decode_job, prep=self.prep)
        if self._pool is None:
            for key, path in items:
                pixels, why = job(path)
                yield key, pixels, why
            return
        from pebble import ProcessExpired

        window: deque[tuple[Any, Any]] = deque()
        limit = max(2, self.workers * self.ahead)
        source = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(window) < limit:
                try:
                    key, path = next(source)
                except StopIteration:
                    exhausted = True
                    break
                window.append((key, self._pool.schedule(job, args=(path,), timeout=self.timeout)))
            if not window:
                return
            key, future = window.popleft()
            try:
                pixels, why = future.result()
            except FutureTimeout:
                pixels, why = (
                    None,
                    f"decoding took longer than {self.timeout:g} s: stopped (hung or too slow)",
                )
            except ProcessExpired as exc:
                pixels, why = None, f"the decoder crashed ({exc})"
            except Exception as exc:  # pickling or pool trouble with this one image
                pixels, why = None, f"cannot decode ({type(exc).__name__}: {exc})"
            yield key, pixels, why
