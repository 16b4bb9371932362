"""Health over time: the post-mortem's daily dashboard figures, one snapshot per run.

``take_snapshot`` validates the project (``curalog validate``, whose memo makes an unchanged
project cheap), turns the report into the dashboard's figures, keeps ``findings_seen`` in step
(which findings exist now and since when: the "newest findings" and the alerts' memory), and
stores the snapshot in the project database. The clock is a parameter, so tests can simulate
days.

The "last 24 hours" figures compare today's totals with the newest snapshot taken at least 24
hours earlier (or, when there is none yet, the oldest one); new warnings and errors are the
findings first seen within the last 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from curalog.codes import BAD_SIZE_CODES, NO_VECTOR_CODES
from curalog.errors import PRINTED_MAX, shown
from curalog.monitor import agreement
from curalog.progress import Progress
from curalog.project import Project
from curalog.validate import validate
from curalog.validate.model import Finding, Report

DAY = timedelta(hours=24)


def utc_iso(ts: datetime) -> str:
    """UTC with a Z (``2026-01-01T00:00:00Z``): snapshots, findings first seen, reports."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


#: a longer key (a path of megabytes in a broken log), or one holding a NUL, is kept as its hash: a
#: PostgreSQL index entry holds at most ~2.7 kB and no text holds a NUL; a key is an identity
MAX_KEY_BYTES = 1024


def finding_key(f: Finding) -> str:
    """One finding's identity across runs: what, and exactly where."""
    key = f"{f.code}|{f.source}|{f.line if f.line is not None else ''}|{f.path}"
    data = key.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_KEY_BYTES and "\x00" not in key:  # (a NUL cannot be stored on PostgreSQL)
        return key
    return f"{f.code}|sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Figures:
    """One snapshot: the seed's dashboard, as numbers."""

    taken_at: str
    selections: int = 0
    selections_embedded: int = 0
    crops: int = 0
    crops_embedded: int = 0
    crops_valid_size: int = 0
    index_entries: int = 0
    index_entries_with_file: int = 0
    embedding_files: int = 0
    usable_selections: int = 0
    usable_crops: int = 0
    errors: int = 0
    warnings: int = 0
    by_code: dict[str, int] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)  # the validator's recommendations, best first
    # last 24 hours: None until there is an earlier snapshot to compare with
    new_selections: int | None = None
    new_crops: int | None = None
    new_embeddings: int | None = None
    new_errors: int = 0
    new_warnings: int = 0
    compared_with: str | None = None  # taken_at of the snapshot the deltas are against
    # inputs not read at all (a log that is a dangling link, a folder, UTF-16, a refused header): why
    not_read: dict[str, str] = field(default_factory=dict)
    # which of "selection", "crop", "index" those are: their figures miss a whole file
    not_read_kinds: list[str] = field(default_factory=list)
    # decisions only accumulate: {"selections": [at the last snapshot, now]} when there are fewer now
    shrank: dict[str, list[int]] = field(default_factory=dict)
    # the loop (``agreement``): suggestions answered and accepted so far, the acceptance since the
    # last snapshot, the model in use and its held-out top-1 accuracy
    suggestions_shown: int = 0
    suggestions_accepted: int = 0
    acceptance_recent: float | None = None
    model_id: str = ""
    model_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figures:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @staticmethod
    def percent(part: int, whole: int) -> float:
        return 100.0 * part / whole if whole else 100.0


@dataclass
class Snapshot:
    id: int | None
    figures: Figures


@dataclass
class HealthResult:
    figures: Figures
    report: Report
    previous: Figures | None  # the snapshot before this one
    new_findings: list[Finding]  # first seen in this run
    recorded: bool

    @property
    def incomplete(self) -> bool:
        """A log could not be read or the ledger holds fewer decisions than at the last snapshot:
        never a healthy day, whatever the findings say (``health`` and ``check`` exit 1)."""
        return bool(self.figures.not_read or self.figures.shrank)


def figures_of(report: Report, project: Project, now: datetime) -> Figures:
    """The dashboard figures of one validation report (the 24-hour part is filled in later)."""
    lay = project.config.layout
    rows_of: dict[str, set[tuple[str, int | None]]] = {"selection": set(), "crop": set()}
    size_bad: set[tuple[str, int | None]] = set()
    ledger_ids = {f.line for f in report.findings if f.source == lay.database and f.line is not None}
    ledger_kind = project.ledger.kinds(ledger_ids)
    not_read: dict[str, str] = {}
    logs = (lay.selection_log, lay.crop_log)
    for f in report.findings:
        if f.code == "row.malformed" and (f.line is None or (f.line == 1 and f.source in logs)):
            not_read[f.source] = f.message  # the whole file: not one decision's vector or size
            continue
        if f.source == lay.selection_log:
            kind = "selection"
        elif f.source == lay.crop_log:
            kind = "crop"
        elif f.source == lay.database and f.line is not None:
            kind = ledger_kind.get(f.line, "")
        else:
            continue
        if f.code in NO_VECTOR_CODES and kind:
            rows_of[kind].add((f.source, f.line))
        if f.code in BAD_SIZE_CODES and kind == "crop":
            size_bad.add((f.source, f.line))
    missing_files = report.by_code.get("embedding.file_missing", 0)
    kinds = (("selection", lay.selection_log), ("crop", lay.crop_log), ("index", lay.embedding_index))
    return Figures(
        taken_at=utc_iso(now),
        selections=report.selections,
        selections_embedded=report.selections - len(rows_of["selection"]),
        crops=report.crops,
        crops_embedded=report.crops - len(rows_of["crop"]),
        crops_valid_size=report.crops - len(size_bad),
        index_entries=report.index_entries,
        index_entries_with_file=report.index_entries - missing_files,
        embedding_files=report.embedding_files,
        usable_selections=report.usable_selections,
        usable_crops=report.usable_crops,
        errors=report.errors,
        warnings=report.warnings,
        by_code=dict(report.by_code),
        fixes=list(report.recommendations),
        not_read=not_read,
        not_read_kinds=[kind for kind, source in kinds if source in not_read],
    )


def history(project: Project, limit: int | None = None) -> list[Snapshot]:
    """Stored snapshots, oldest first (the newest ``limit`` of them when given)."""
    sql = "SELECT id, figures FROM snapshots ORDER BY taken_at DESC, id DESC"
    rows = project.db.query(sql + (f" LIMIT {int(limit)}" if limit else ""))
    return [Snapshot(r["id"], Figures.from_dict(json.loads(r["figures"]))) for r in reversed(rows)]


def _reference(snapshots: list[Snapshot], now: datetime) -> Figures | None:
    """The newest snapshot at least 24 hours old; else the oldest one; None if there is none."""
    if not snapshots:
        return None
    older = [s.figures for s in snapshots if parse_iso(s.figures.taken_at) <= now - DAY]
    return older[-1] if older else snapshots[0].figures


def _columns(f: Finding) -> tuple:
    return (f.code, f.severity, f.source, f.line, f.project, f.path, f.message, f.fix)


def sync_findings(project: Project, findings: list[Finding], now: datetime) -> list[Finding]:
    """Bring ``findings_seen`` in step with the current findings; returns those seen for the
    first time. Findings that are gone are forgotten (if one comes back, it is new again)."""
    current = {finding_key(f): f for f in findings}
    stamp = utc_iso(now)
    with project.db.write() as conn:  # read and change under one write lock: concurrent runs queue
        known = {r[0] for r in conn.execute("SELECT key FROM findings_seen")}
        new = [f for k, f in current.items() if k not in known]
        gone = known - current.keys()
        conn.executemany("DELETE FROM findings_seen WHERE key = ?", [(k,) for k in gone])
        conn.executemany(
            "INSERT INTO findings_seen (key, code, severity, source, line, project, path, message, fix,"
            " first_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    finding_key(f),
                    f.code,
                    f.severity,
                    f.source,
                    f.line,
                    f.project,
                    f.path,
                    f.message,
                    f.fix,
                    stamp,
                )
                for f in new
            ],
        )
    return new


def claim_unannounced(
    project: Project, codes: frozenset[str] | set[str], now: datetime
) -> list[dict[str, Any]]:
    """The seen findings of ``codes`` not announced yet, marked announced at ``now`` in the same
    transaction (so two runs never announce one finding twice)."""
    marks = ",".join("?" * len(codes))
    with project.db.write() as conn:
        rows = conn.execute(
            f"SELECT * FROM findings_seen WHERE announced_at IS NULL AND code IN ({marks})"
            " ORDER BY code, source, line, path",
            tuple(codes),
        ).fetchall()
        conn.execute(
            f"UPDATE findings_seen SET announced_at = ? WHERE announced_at IS NULL AND code IN ({marks})",
            (utc_iso(now), *codes),
        )
    return [dict(r) for r in rows]


def newest_findings(project: Project, codes: int = 12, examples: int = 3) -> list[dict[str, Any]]:
    """The findings first seen most recently, grouped by code (newest group first): per code its
    severity, how many, when the newest was first seen, and the first few of the newest batch."""
    rows = project.db.query(
        # min(severity): "error" when a code was seen as both (the policy changed): portable SQL,
        # where SQLite alone would take the newest row's
        "SELECT code, min(severity) AS severity, count(*) AS n, max(first_seen) AS newest FROM findings_seen"
        f" GROUP BY code ORDER BY newest DESC, min(severity) = 'error' DESC, n DESC LIMIT {int(codes)}"
    )
    out = []
    for r in rows:
        first = project.db.query(
            "SELECT source, line, project, path, message, fix FROM findings_seen"
            f" WHERE code = ? AND first_seen = ? ORDER BY source, line, path LIMIT {int(examples)}",
            (r["code"], r["newest"]),
        )
        out.append({"code": r["code"], "severity": r["severity"], "count": r["n"], "newest": r["newest"],
                    "examples": [dict(e) for e in first]})  # fmt: skip
    return out


def take_snapshot(
    project: Project,
    *,
    now: datetime | None = None,
    record: bool = True,
    report: Report | None = None,
    progress: Progress | None = None,
) -> HealthResult:
    """Validate, compute today's figures and their 24-hour deltas, and (unless ``record`` is
    False) store the snapshot and the findings' first-seen times."""
    now = now or datetime.now(UTC)
    if report is None:
        report = validate(project.root, progress=progress)
    figures = figures_of(report, project, now)
    snapshots = history(project)
    previous = snapshots[-1].figures if snapshots else None
    agreement.fill(figures, project, previous)
    if record:
        new = sync_findings(project, report.findings, now)
    else:
        known = {r["key"] for r in project.db.query("SELECT key FROM findings_seen")}
        new = [f for f in report.findings if finding_key(f) not in known]
    if previous is not None:
        for name in ("selections", "crops"):
            before, after = getattr(previous, name), getattr(figures, name)
            if after < before:
                figures.shrank[name] = [before, after]
    ref = _reference(snapshots, now)
    if ref is not None:
        figures.compared_with = ref.taken_at
        figures.new_selections = figures.selections - ref.selections
        figures.new_crops = figures.crops - ref.crops
        figures.new_embeddings = figures.embedding_files - ref.embedding_files
    cutoff = utc_iso(now - DAY)
    recent = project.db.query(
        "SELECT severity, count(*) AS n FROM findings_seen WHERE first_seen > ? GROUP BY severity", (cutoff,)
    )
    counts = Counter({r["severity"]: r["n"] for r in recent})
    if not record:  # this run's new findings are not in findings_seen
        counts.update(f.severity for f in new)
    figures.new_errors, figures.new_warnings = counts.get("error", 0), counts.get("warning", 0)
    if record:
        with project.db.write() as conn:
            conn.execute(
                "INSERT INTO snapshots (taken_at, figures) VALUES (?, ?)",
                (figures.taken_at, json.dumps(figures.to_dict())),
            )
    return HealthResult(figures, report, previous, new, record)


def health(root: str | None = None, *, now: datetime | None = None, record: bool = True) -> HealthResult:
    """``curalog health``: one snapshot of the project at ``root``."""
    from curalog.project import open_project

    with open_project(root, tool="curalog health") as project:
        return take_snapshot(project, now=now, record=record)


def not_read_lines(f: Figures) -> list[str]:
    """One line per input that was not read at all, and per kind of decision there are fewer of than
    at the last snapshot, for the top of every report that shows figures."""
    return [
        f"❌ NOT READ: {shown(source)}: {shown(why, PRINTED_MAX)}" for source, why in f.not_read.items()
    ] + [
        f"❌ FEWER {name.upper()}: {before:,} at the last snapshot, {after:,} now; decisions only "
        "accumulate, so a log was deleted, emptied or cut short (or decisions were undone)"
        for name, (before, after) in f.shrank.items()
    ]


def render_text(result: HealthResult) -> str:
    """The post-mortem's dashboard, as text."""
    f = result.figures

    def line(label: str, part: int, whole: int, kind: str, good: float = 99.5) -> str:
        if kind in f.not_read_kinds:  # a whole log is missing from these numbers: never a green mark
            return f"  {label}: {part:,} of {whole:,} ❌ (without the log that was NOT READ)"
        if not whole:
            return f"  {label}: 0 (nothing to count)"
        pct = Figures.percent(part, whole)
        mark = "✅" if pct >= good else ("⚠️" if pct >= 95 else "❌")
        return f"  {label}: {part:,} ({pct:.1f}%) {mark}"

    def delta(value: int | None) -> str:
        return "—" if value is None else f"{value:+,}" if value < 0 else f"{value:,}"

    out = [
        "=== AI Training Data Health ===",
        f"Updated: {f.taken_at}",
        *not_read_lines(f),
        "",
        "Selections:",
        f"  Total: {f.selections:,}",
        line("With embeddings", f.selections_embedded, f.selections, "selection"),
        "",
        "Crops:",
        f"  Total: {f.crops:,}",
        line("With embeddings", f.crops_embedded, f.crops, "crop"),
        line("With valid dimensions", f.crops_valid_size, f.crops, "crop"),
        "",
        "Embeddings:",
        f"  Cache entries: {f.index_entries:,}",
        line("Entries with their file on disk", f.index_entries_with_file, f.index_entries, "index"),
        f"  Files on disk: {f.embedding_files:,}",
        "",
        f"Usable training examples: {f.usable_selections:,} selections, {f.usable_crops:,} crops",
        "",
        "Last 24 hours" + (f" (compared with {f.compared_with}):" if f.compared_with else ":"),
        f"  New selections: {delta(f.new_selections)}",
        f"  New crops: {delta(f.new_crops)}",
        f"  New embeddings: {delta(f.new_embeddings)}",
        "",
        f"⚠️ Recent warnings: {f.new_warnings:,}" if f.new_warnings else "⚠️ Recent warnings: None",
        f"❌ Recent errors: {f.new_errors:,}" if f.new_errors else "❌ Recent errors: None",
    ]
    if f.by_code:
        out += ["", "Findings by code:"]
        out += [f"  {code}: {n:,}" for code, n in sorted(f.by_code.items(), key=lambda kv: -kv[1])]
    if f.fixes:
        out += ["", "🔧 Fixes:"] + [f"  {cmd}" for cmd in f.fixes]
    return "\n".join(out)
