"""``curalog check``: the nightly job. Validate, store a health snapshot, announce what is new.

Quiet when all is well: exit status 0 and nothing to say unless an alert fired or a sink
failed, so cron mails only when something changed for the worse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from curalog.errors import ConfigError
from curalog.monitor.agreement import DROP
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


def check(root: str | os.PathLike[str] | None = None, *, now: datetime | None = None,
          agreement_drop: float = DROP) -> CheckResult:  # fmt: skip
    """Validate, snapshot, alert; ``agreement_drop``: the fall of suggestion acceptance or of the
    model's held-out accuracy since the last snapshot that raises an alert (0.10: ten points)."""
    if not 0 < agreement_drop <= 1:
        raise ConfigError(f"--agreement-drop {agreement_drop}: a fraction in (0, 1], e.g. 0.1 for ten points")
    now = now or datetime.now(UTC)
    with open_project(root, tool="curalog check") as project:
        result = take_snapshot(project, now=now)
        return CheckResult(result, send_alerts(project, result, now, agreement_drop))
