"""``curalog check``: the nightly job. Validate, store a health snapshot, announce what is new.

Quiet when all is well: exit status 0 and nothing to say unless an alert fired or a sink
failed, so cron mails only when something changed for the worse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from curalog.errors import ConfigError, CuralogError
from curalog.monitor.agreement import DROP
from curalog.monitor.alerts import AlertRun, send_alerts
from curalog.monitor.health import HealthResult, not_read_lines, take_snapshot
from curalog.project import open_project
from curalog.training.retrain import RETRAIN_AFTER, Retrained
from curalog.training.retrain import retrain as retrain_models


@dataclass
class CheckResult:
    health: HealthResult
    alerts: AlertRun
    retrained: Retrained | None = None  # --retrain: what retraining did
    retrain_failed: str = ""  # --retrain: why it could not (a line)

    @property
    def exit_code(self) -> int:
        """0: nothing new to announce and every sink worked; 1: an alert fired, a sink failed, or a
        log could not be read (every night until it can: a whole log missing is never "nothing new"),
        or there are fewer decisions than at the last snapshot (a log deleted, emptied, cut short),
        or retraining failed or kept the old model."""
        kept = (
            self.retrained is not None and self.retrained.trained is not None and not self.retrained.replaced
        )
        bad = (
            self.alerts.alerts or self.alerts.failed or self.health.incomplete or self.retrain_failed or kept
        )
        return 1 if bad else 0

    def summary(self) -> str:
        lines = not_read_lines(self.health.figures)
        lines += [a.text for a in self.alerts.alerts]
        lines += [f"❌ alert sink failed: {d.sink}: {d.detail}" for d in self.alerts.failed]
        if self.retrained is not None and self.retrained.trained is not None:
            lines.append(("🔁 " if self.retrained.replaced else "⚠️ ") + self.retrained.line)
        if self.retrain_failed:
            lines.append(f"❌ retraining failed: {self.retrain_failed}")
        return "\n\n".join(lines)


def check(root: str | os.PathLike[str] | None = None, *, now: datetime | None = None,
          agreement_drop: float = DROP, retrain: bool = False,
          retrain_after: int = RETRAIN_AFTER) -> CheckResult:  # fmt: skip
    """Validate, snapshot, alert; ``agreement_drop``: the fall of suggestion acceptance or of the
    model's held-out accuracy since the last snapshot that raises an alert (0.10: ten points).
    ``retrain``: then train again when ``retrain_after`` new usable decisions came since the
    model in use was trained, keeping the better of the two (``training.retrain``)."""
    if not 0 < agreement_drop <= 1:
        raise ConfigError(f"--agreement-drop {agreement_drop}: a fraction in (0, 1], e.g. 0.1 for ten points")
    if retrain_after < 1:
        raise ConfigError(f"--retrain-after {retrain_after}: at least 1 new decision")
    now = now or datetime.now(UTC)
    with open_project(root, tool="curalog check") as project:
        result = take_snapshot(project, now=now)
        checked = CheckResult(result, send_alerts(project, result, now, agreement_drop))
        where = project.root
    if retrain:
        usable = result.report.usable_selections + result.report.usable_crops
        try:
            checked.retrained = retrain_models(where, usable, after=retrain_after)
        except CuralogError as exc:  # a dataset that cannot be built, a model that cannot be saved
            checked.retrain_failed = str(exc)
    return checked
