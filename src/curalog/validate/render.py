"""Report renderers: the seed's text report and findings.md's JSON."""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from curalog.audit import AuditLog
from curalog.codes import PHRASES
from curalog.config import find_root, load_config
from curalog.errors import PRINTED_MAX, CuralogError, shown
from curalog.files import check_output, is_stream, write_file
from curalog.validate.model import Finding, Report

if TYPE_CHECKING:
    from markupsafe import Markup

EXAMPLES = 3

_KIND = {"selection": "selections", "crop": "crop entries", "curalog": "ledger decisions"}


def _kind(source: str) -> str:
    for key, kind in _KIND.items():
        if key in source:
            return kind
    return "decisions"


def _groups(findings: list[Finding]) -> dict[tuple[str, str, str], list[Finding]]:
    groups: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.code, f.source, f.project)].append(f)
    return groups


def check_report_output(root: str | os.PathLike[str] | None, output: str | os.PathLike[str], *,
                        force: bool = False) -> None:  # fmt: skip
    """Refuse a report path before the run (``files.check_output``): never one of the project's
    own files, never an existing file without ``force``, never on a project whose audit log
    cannot record it."""
    config = load_config(root if root is not None else find_root())
    check_output(output, protected=config.owned_paths(), force=force)
    AuditLog(config.path("audit_dir")).require_for(output, "write the report")


def save_report(report: Report, text: str, output: str | os.PathLike[str]) -> Path:
    """Write a rendered report to ``output`` (``files.write_file``) and record it in the project's
    audit log (skipped, like the cache, on a project that cannot be written)."""
    stream = is_stream(output)
    written = write_file(output, text)
    if stream:  # a terminal, a pipe, a device: no file was made
        return written
    root = Path(report.root)
    with contextlib.suppress(OSError, CuralogError):
        AuditLog(load_config(root).path("audit_dir"), script="curalog validate").record_created(
            written.resolve(), root, f"validation report: {report.errors} errors, {report.warnings} warnings"
        )
    return written


def _unread(findings: list[Finding]) -> set[str]:
    """Which inputs were not read at all ("selection", "crop", "index"): a log that cannot be
    read (a finding without a line) or a CSV log whose header was refused (line 1)."""
    out = set()
    for f in findings:
        if f.code == "row.malformed" and (f.line is None or (f.line == 1 and f.source.endswith(".csv"))):
            out.add(next((k for k in ("selection", "crop") if k in f.source), "index"))
    return out


def render_text(report: Report) -> str:
    r = report
    unread = _unread(r.findings)

    def mark(kind: str, label: str) -> str:
        # an unread log's decisions are missing from the counts, which then hold only the ledger's
        return (
            f"❌ {label}: the log was NOT READ (see the errors); counted"
            if kind in unread
            else f"✅ {label}:"
        )

    out = [
        "=== TRAINING DATA VALIDATION REPORT ===",
        f"Root: {r.root}",
        f"Date: {r.generated_at}",
        "",
        f"{mark('selection', 'Selection data')} {r.selections:,} entries ({r.usable_selections:,} usable)",
        f"{mark('crop', 'Crop data')} {r.crops:,} entries ({r.usable_crops:,} usable)",
        f"{mark('index', 'Embedding index')} {r.index_entries:,} entries; "
        f"vector files on disk: {r.embedding_files:,}",
    ]
    for severity, title in (("warning", "⚠️  WARNINGS"), ("error", "❌ ERRORS")):
        items = [f for f in r.findings if f.severity == severity]
        if not items:
            continue
        out += ["", f"{title} ({len(items):,}):"]
        groups = sorted(_groups(items).items(), key=lambda kv: (-len(kv[1]), kv[0]))
        for (code, source, project), group in groups:
            name = source.rsplit("/", 1)[-1]
            phrase = PHRASES.get(code, code).format(name=name, kind=_kind(source))
            where = f" ({project})" if project else ""
            out.append(f"   - {len(group):,} {phrase}{where}  [{code}]")
            for f in group[:EXAMPLES]:
                at = f"{f.source}:{f.line}  " if f.line is not None else ""
                out.append(f"       {at}{shown(f.path)}: {shown(f.message, PRINTED_MAX)}")
                out.append(f"         fix: {shown(f.fix, PRINTED_MAX)}")
            if len(group) > EXAMPLES:
                out.append(f"       … and {len(group) - EXAMPLES:,} more (--format json lists every one)")
    if not r.findings:
        out += ["", "No problems found."]
    if r.recommendations:
        out += ["", "🔧 RECOMMENDATIONS:"]
        out += [f"   {i}. {cmd}" for i, cmd in enumerate(r.recommendations, start=1)]
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    """One self-contained page (no network): summary cards, the fixes, a filterable table per code."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("curalog.validate", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        by_code[f.code].append(f)
    sections = sorted(
        ((code, items[0].severity if all(i.severity == items[0].severity for i in items) else "error", items,
          _rows(items)) for code, items in by_code.items()),
        key=lambda s: (s[1] != "error", s[0]),
    )  # fmt: skip
    return env.get_template("report.html.j2").render(r=report, sections=sections)


def _rows(items: list[Finding]) -> Markup:
    """A table's rows, escaped by markupsafe (what the template's autoescape does), in one join:
    a loop in the template costs ~9 µs a row, this ~2."""
    from markupsafe import Markup, escape

    return Markup("\n    ".join(
        f'<tr><td class="where">{escape(f.source)}{"" if f.line is None else f":{f.line}"}</td>'
        f"<td>{escape(f.project)}</td><td>{escape(f.path)}</td><td>{escape(f.message)}</td>"
        f'<td class="fix">{escape(f.fix)}</td></tr>'
        for f in items
    ))  # fmt: skip


def render_json(report: Report) -> str:
    """findings.md's JSON report, indented by two (``Report.to_json``)."""
    return report.to_json(indent=True) + "\n"
