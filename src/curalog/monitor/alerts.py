"""Red-flag alerts: each new problem announced once, to every configured sink.

The red flags are the post-mortem's ("Alert immediately if"): a crop logged with a 0x0 size, a
decision without an embedding, an index entry whose vector file is gone, a box outside [0, 1]
once normalized; plus any rise in the error count since the last snapshot. A problem is one
finding (code + source + line + path); ``findings_seen.announced_at`` remembers which were
announced, so repeated runs stay quiet until a new instance appears. A problem that was fixed
and comes back is new again.

Sinks (``[[alerts.sinks]]`` in ``curalog.toml``): ``command`` (the alert JSON on stdin),
``webhook`` (POSTed JSON with a Slack-compatible ``text``), ``file`` (one JSON line per alert).
A failing sink is reported and never stops the others.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curalog.codes import RECOMMEND, RED_FLAGS
from curalog.config import Sink
from curalog.errors import PRINTED_MAX, shown
from curalog.files import append_record
from curalog.monitor.agreement import DROP, drops
from curalog.monitor.health import HealthResult, claim_unannounced, utc_iso
from curalog.project import Project

EXAMPLES = 5  # problems shown in an alert's text
LISTED = 1000  # problems listed in an alert's JSON ("count" is always the whole number)


@dataclass
class Alert:
    kind: str  # "red_flag" | "error_rise" | "test"
    code: str
    severity: str
    title: str
    fix: str
    root: str
    created_at: str
    since: str = ""
    problems: list[dict[str, Any]] = field(default_factory=list)
    projects: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Slack-compatible text: what, where, since when, and the fix."""
        lines = [f"*curalog* {self.title}" + (f" (since {self.since})" if self.since else "")]
        for p in self.problems[:EXAMPLES]:
            where = f"{p['source']}:{p['line']}" if p.get("line") is not None else p["source"]
            lines.append(f"• {where}  {shown(p['path'])}: {shown(p['message'], PRINTED_MAX)}")
        if len(self.problems) > EXAMPLES:
            lines.append(f"• … and {len(self.problems) - EXAMPLES:,} more")
        if self.fix:
            lines.append(f"Fix: `{self.fix}`")
        lines.append(f"Project root: {self.root}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "curalog_alert": 1,
            "kind": self.kind,
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "text": self.text,
            "root": self.root,
            "created_at": self.created_at,
            "since": self.since,
            "count": len(self.problems),
            "projects": self.projects,
            "fix": self.fix,
            "problems": self.problems[:LISTED],
            "listed": min(len(self.problems), LISTED),
        }


@dataclass
class Delivery:
    sink: str
    ok: bool
    detail: str


@dataclass
class AlertRun:
    alerts: list[Alert]
    deliveries: list[Delivery]

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.ok]


def _projects_label(projects: dict[str, int]) -> str:
    named = [p for p in projects if p]
    return f" ({', '.join(sorted(named))})" if named else ""


def claim_alerts(project: Project, result: HealthResult, now: datetime | None = None,
                 agreement_drop: float = DROP) -> list[Alert]:  # fmt: skip
    """The alerts this run owes: one per red-flag code with problems not yet announced, one if
    the error count rose since the previous snapshot, and one if suggestion acceptance or the
    model's held-out accuracy fell by more than ``agreement_drop`` (``agreement.drops``). The
    problems are marked announced in the same transaction that reads them, so two runs at once
    never announce one problem twice (and a sink that fails does not make the others repeat it
    tomorrow; its failure is reported by the run instead)."""
    now = now or datetime.now(UTC)
    root = str(project.root)
    rows = claim_unannounced(project, RED_FLAGS, now)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_code.setdefault(r["code"], []).append(r)
    alerts = []
    for code, found in by_code.items():
        projects = dict(Counter(p["project"] for p in found))
        fields = ("source", "line", "project", "path", "message", "fix", "first_seen", "severity")
        problems = [{k: p[k] for k in fields} for p in found]
        severity = "error" if any(p["severity"] == "error" for p in found) else "warning"
        what = RED_FLAGS[code][0 if len(found) == 1 else 1]
        title = f"{len(found):,} new {what}{_projects_label(projects)}"
        since = min(p["first_seen"] for p in found)
        fix = RECOMMEND.get(code, "")
        alerts.append(
            Alert("red_flag", code, severity, title, fix, root, utc_iso(now), since, problems, projects)
        )
    prev, cur = result.previous, result.figures
    if prev is not None and cur.errors > prev.errors:
        rose = {c: n - prev.by_code.get(c, 0) for c, n in cur.by_code.items() if n > prev.by_code.get(c, 0)}
        detail = ", ".join(f"{c} +{n:,}" for c, n in sorted(rose.items(), key=lambda kv: -kv[1]))
        title = f"errors rose from {prev.errors:,} to {cur.errors:,} since {prev.taken_at}"
        title += f": {detail}" if detail else ""
        stamp = utc_iso(now)
        alerts.append(
            Alert(
                "error_rise",
                "errors.rise",
                "error",
                title,
                "curalog validate",
                str(root),
                stamp,
                prev.taken_at,
            )
        )
    fell = drops(prev, cur, agreement_drop) if prev is not None else []
    if fell:
        title = f"{'; '.join(fell)} since {prev.taken_at}"  # type: ignore[union-attr]
        fix = "curalog dashboard   # the agreement per day and project, and each model's figures"
        alerts.append(Alert("agreement_drop", "agreement.drop", "warning", title, fix, root, utc_iso(now),
                            prev.taken_at))  # type: ignore[union-attr]  # fmt: skip
    return alerts


# -- sinks ------------------------------------------------------------------------------------
def _send_command(sink: Sink, payload: bytes) -> str:
    done = subprocess.run(list(sink.command), input=payload, capture_output=True, timeout=sink.timeout)
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"exit status {done.returncode}" + (f": {err[-1]}" if err else ""))
    return "ran"


def _send_webhook(sink: Sink, payload: bytes) -> str:
    request = urllib.request.Request(
        sink.url, data=payload, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=sink.timeout) as response:  # the config allows http(s) only
        return f"HTTP {response.status}"


def _send_file(sink: Sink, payload: bytes, project: Project) -> str:
    target = Path(sink.path)
    if not target.is_absolute():
        target = project.root / target
    target.parent.mkdir(parents=True, exist_ok=True)
    created = not target.exists()
    append_record(target, payload + b"\n")
    if created:
        rel = (
            target.relative_to(project.root).as_posix()
            if target.is_relative_to(project.root)
            else str(target)
        )
        folder, _, name = rel.rpartition("/")
        project.audit.record("create", [name], dest_dir=folder, notes="curalog alert sink (JSON Lines)")
    return f"appended to {target}"


def deliver(project: Project, alert: Alert, sinks: tuple[Sink, ...] | None = None) -> list[Delivery]:
    """Send one alert to every sink; each failure is caught and reported, never raised."""
    sinks = project.config.alerts.sinks if sinks is None else sinks
    payload = json.dumps(alert.to_dict(), ensure_ascii=False).encode("utf-8")
    out = []
    for sink in sinks:
        try:
            if sink.type == "command":
                detail = _send_command(sink, payload)
            elif sink.type == "webhook":
                detail = _send_webhook(sink, payload)
            else:
                detail = _send_file(sink, payload, project)
            out.append(Delivery(sink.label, True, detail))
        except subprocess.TimeoutExpired:
            out.append(Delivery(sink.label, False, f"timed out after {sink.timeout:g} s"))
        except urllib.error.HTTPError as exc:
            out.append(Delivery(sink.label, False, f"HTTP {exc.code} {exc.reason}"))
        except urllib.error.URLError as exc:
            out.append(Delivery(sink.label, False, f"cannot reach it ({exc.reason})"))
        except (OSError, RuntimeError, ValueError) as exc:
            out.append(Delivery(sink.label, False, str(exc) or type(exc).__name__))
    return out


def send_alerts(project: Project, result: HealthResult, now: datetime | None = None,
                agreement_drop: float = DROP) -> AlertRun:  # fmt: skip
    """Announce what this run owes to every sink, then remember it as announced."""
    now = now or datetime.now(UTC)
    alerts = claim_alerts(project, result, now, agreement_drop)
    return AlertRun(alerts, [d for a in alerts for d in deliver(project, a)])


def send_test_alert(project: Project, now: datetime | None = None) -> AlertRun:
    """``curalog alerts test``: a harmless alert to every sink."""
    now = now or datetime.now(UTC)
    alert = Alert(
        "test", "alerts.test", "warning", "test alert: this sink works", "", str(project.root), utc_iso(now),
        problems=[{"source": "curalog.toml", "line": None, "project": "", "path": "",
                   "message": "sent by `curalog alerts test`", "fix": "", "first_seen": utc_iso(now),
                   "severity": "warning"}],
    )  # fmt: skip
    return AlertRun([alert], deliver(project, alert))
