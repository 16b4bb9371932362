"""The peak memory of a command and every process it forks, together: the sum of their PSS.

A process's peak RSS (VmHWM) misses its forked children, and a child's RSS counts the pages it
shares with its parent as its own. PSS (proportional set size) divides each shared page among
the processes that map it, so the sum over a process tree is the memory it really holds. Linux
only (/proc/<pid>/smaps_rollup); sampled every ``every`` seconds, so a peak shorter than that
can be missed. Reading a large process's smaps_rollup costs CPU: time a command in runs of its
own, not in this one.
"""

from __future__ import annotations

import os
import subprocess
import time


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    out += _tree(int(child))
    except OSError:
        pass
    return out


def _pss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_footprint(cmd: list[str], every: float = 0.05) -> tuple[float, int]:
    """Run ``cmd`` (its output discarded); returns (the peak sum of PSS over it and its
    children in MB, its exit status). 0 MB where /proc has no smaps_rollup."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, sum(_pss_mb(p) for p in _tree(proc.pid)))
        time.sleep(every)
    return peak, proc.returncode
