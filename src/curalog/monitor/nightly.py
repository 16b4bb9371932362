"""``curalog check``: the nightly job. Validate, store a health snapshot, announce what is new.

Quiet when all is well: exit status 0 and nothing to say unless an alert fired or a sink
failed, so cron mails only when something changed for the worse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from curalog.monitor.alerts import AlertRun, send_alerts
from curalog.monitor.health import HealthResult, not_read_lines, take_snapshot
from curalog.project import open_project


@dataclass
class CheckResult:
    health: HealthResult
    alerts: AlertRun

    @property
    def exit_code(self) -> int:
        """0: nothing new to announce and every sink worked; 1: an alert fired, a sink failed, or a
        log could not be read (every night until it can: a whole log missing is never "nothing new"),
        or there are fewer decisions than at the last snapshot (a log deleted, emptied, cut short)."""
        return 1 if self.alerts.alerts or self.alerts.failed or self.health.incomplete else 0

    def summary(self) -> str:
        lines = not_read_lines(self.health.figures)
        lines += [a.text for a in self.alerts.alerts]
        lines += [f"❌ alert sink failed: {d.sink}: {d.detail}" for d in self.alerts.failed]
        return "\n\n".join(lines)


def check(root: str | os.PathLike[str] | None = None, *, now: datetime | None = None) -> CheckResult:
    now = now or datetime.now(UTC)
    with open_project(root, tool="curalog check") as project:
        result = take_snapshot(project, now=now)
        return CheckResult(result, send_alerts(project, result, now))
