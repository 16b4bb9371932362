"""The health dashboard: one self-contained HTML page (no network) with today's figures as
cards, trend charts over the stored snapshots, the newest findings and the fix commands, and
the loop's agreement (suggestions accepted per day and project, each trained model's figures).

Charts are drawn by matplotlib into inline SVG (text kept as text, so the page stays
searchable and a browser test can read the labels).
"""

from __future__ import annotations

import io
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from curalog.files import check_output, write_file
from curalog.monitor import DASHBOARD, agreement
from curalog.monitor.health import Figures, HealthResult, Snapshot, history, newest_findings, parse_iso
from curalog.project import Project
from curalog.validate.model import SEVERITY

GOOD, FAIR = 99.5, 95.0  # percentages: green at or above GOOD, amber at or above FAIR, else red
INK, GREEN, AMBER, RED, BLUE = "#1f2328", "#1a7f37", "#bf8700", "#cf222e", "#0969da"


def _state(pct: float) -> str:
    return "ok" if pct >= GOOD else "warn" if pct >= FAIR else "bad"


def cards(f: Figures) -> list[dict[str, Any]]:
    """Today's figures as cards: label, value, detail, and ok / warn / bad."""

    def share(label: str, part: int, whole: int, kind: str) -> dict[str, Any]:
        pct = Figures.percent(part, whole)
        unread = kind in f.not_read_kinds  # a whole log missing from the figures is never green
        return {
            "label": label,
            "value": "NOT READ" if unread else f"{pct:.1f}%",
            "detail": f"{part:,} of {whole:,}"
            + (" without the log that could not be read" if unread else ""),
            "state": "bad" if unread else _state(pct),
        }

    decided = (f.new_selections or 0) + (f.new_crops or 0)
    last_day = "—" if f.new_selections is None else f"{decided:,}"
    return [
        share("Selections with embeddings", f.selections_embedded, f.selections, "selection"),
        share("Crops with embeddings", f.crops_embedded, f.crops, "crop"),
        share("Crops with valid sizes", f.crops_valid_size, f.crops, "crop"),
        share("Index entries with their file", f.index_entries_with_file, f.index_entries, "index"),
        {"label": "Usable training examples", "value": f"{f.usable_selections + f.usable_crops:,}",
         "detail": f"{f.usable_selections:,} selections · {f.usable_crops:,} crops",
         "state": "ok" if f.usable_selections + f.usable_crops else "warn"},
        {"label": "Errors", "value": f"{f.errors:,}", "detail": f"{f.new_errors:,} new in 24 h",
         "state": "bad" if f.errors else "ok"},
        {"label": "Warnings", "value": f"{f.warnings:,}", "detail": f"{f.new_warnings:,} new in 24 h",
         "state": "warn" if f.warnings else "ok"},
        {"label": "Decisions, last 24 h", "value": last_day,
         "detail": "—" if f.new_selections is None else
         f"{f.new_selections:,} selections · {f.new_crops:,} crops · {f.new_embeddings:,} embeddings",
         "state": "ok"},
    ]  # fmt: skip


def _daily(snapshots: list[Snapshot]) -> list[Figures]:
    """The last snapshot of each day (UTC), oldest first."""
    by_day: dict[str, Figures] = {}
    for s in snapshots:
        by_day[s.figures.taken_at[:10]] = s.figures
    return [by_day[d] for d in sorted(by_day)]


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(title: str, pad: float = 22) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 2.6), dpi=100)
    ax = fig.add_subplot()
    ax.set_title(title, loc="left", fontsize=11, color=INK, pad=pad)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8, colors="#57606a")
    ax.grid(axis="y", color="#eaeef2", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def charts(snapshots: list[Snapshot]) -> list[dict[str, str]]:
    """Three trend charts as inline SVG: decisions per day, % with embeddings, errors per code."""
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    days = _daily(snapshots)
    labels = [d.taken_at[5:10] for d in days]
    out = []

    fig, ax = _figure("Decisions per day")
    if len(days) >= 2:
        sel = [b.selections - a.selections for a, b in pairwise(days)]
        crp = [b.crops - a.crops for a, b in pairwise(days)]
        x = list(range(len(sel)))
        ax.bar(x, sel, color=BLUE, label="selections")
        ax.bar(x, crp, bottom=sel, color=GREEN, label="crops")
        ax.set_xticks(x, labels[1:])
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.02), ncols=2)
    else:
        ax.text(0.5, 0.5, "appears after a second day of snapshots", ha="center", va="center",
                transform=ax.transAxes, color="#57606a")  # fmt: skip
        ax.set_xticks([])
    out.append({"id": "chart-decisions", "title": "Decisions per day", "svg": _svg(fig)})

    fig, ax = _figure("% with embeddings")
    x = list(range(len(days)))
    sel_pct = [Figures.percent(d.selections_embedded, d.selections) for d in days]
    crop_pct = [Figures.percent(d.crops_embedded, d.crops) for d in days]
    ax.plot(x, sel_pct, marker="o", color=BLUE, label="selections")
    ax.plot(x, crop_pct, marker="o", color=GREEN, label="crops")
    low = min([*sel_pct, *crop_pct, 100.0])
    ax.set_ylim(max(0.0, low - 5), 100.5)
    ax.set_xticks(x, labels)
    ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.02), ncols=2)
    out.append({"id": "chart-embeddings", "title": "% with embeddings", "svg": _svg(fig)})

    fig, ax = _figure("Errors per code", pad=8)
    codes = sorted({c for d in days for c in d.by_code if SEVERITY.get(c) == "error"})
    for code in codes:
        ax.plot(x, [d.by_code.get(code, 0) for d in days], marker="o", label=code)
    if not codes:
        ax.plot(x, [0] * len(days), marker="o", color=GREEN, label="no errors")
    ax.set_ylim(bottom=0)
    ax.set_xticks(x, labels)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncols=2)
    out.append({"id": "chart-errors", "title": "Errors per code", "svg": _svg(fig)})
    return out


def render_dashboard(
    project: Project,
    result: HealthResult | None = None,
    *,
    days: int = 60,
    session: dict[str, Any] | None = None,
    nav: list[tuple[str, str]] | None = None,
) -> str:
    """The dashboard page. ``result`` is this run's snapshot; without one, the newest stored
    snapshot is shown (there must be one: run ``curalog health`` first). ``session`` adds a
    panel (``since`` and ``cards``: (label, value, detail) triples), ``nav`` links at the top:
    both for the web app."""
    snapshots = history(project, limit=days * 24)
    if result is not None:
        figures = result.figures
        if not result.recorded:
            snapshots = [*snapshots, Snapshot(None, figures)]
    elif snapshots:
        figures = snapshots[-1].figures
    else:
        raise ValueError("no health snapshot yet: run `curalog health` first")
    env = Environment(
        loader=PackageLoader("curalog", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return env.get_template("dashboard.html.j2").render(
        root=str(project.root),
        taken_at=figures.taken_at,
        updated=parse_iso(figures.taken_at).strftime("%Y-%m-%d %H:%M UTC"),
        cards=cards(figures),
        charts=charts(snapshots),
        findings=newest_findings(project),
        by_code=sorted(figures.by_code.items(), key=lambda kv: -kv[1]),
        severity=SEVERITY,
        fixes=figures.fixes,
        snapshots=len(snapshots),
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        session=session,
        nav=nav,
        agreement=list(reversed(agreement.by_day(project.ledger.shown()))),  # newest day first
        models=agreement.models(project.root),
    )


def dashboard_target(project: Project, output: Path | None, *, force: bool = False) -> Path:
    """Where the dashboard goes, checked before any work: ``output`` (refused over a file that is
    not curalog's own output unless ``force``, never over the project's own files), or the default
    ``data/health-dashboard.html``: curalog's own page, rewritten each time, so only a regular file
    (or none) is accepted there. The audit log must be writable too."""
    target = output if output is not None else project.root / DASHBOARD
    what = "--output" if output is not None else "the dashboard's default file"
    check_output(target, protected=project.config.owned_paths(), force=force or output is None,
                 new_folders=output is None, own=output is None, what=what)  # fmt: skip
    project.audit.require_for(target, "write the dashboard")  # before the run, not after
    if output is None:
        target.parent.mkdir(parents=True, exist_ok=True)
    return target


def write_dashboard(project: Project, output: Path, result: HealthResult | None = None) -> Path:
    """Write the dashboard to ``output`` (atomically; audited when the file is new)."""
    project.audit.require_for(output, "write the dashboard")
    html = render_dashboard(project, result)
    created = not output.exists()
    write_file(output, html)
    if created:
        project.audit.record_created(output.resolve(), project.root, "curalog health dashboard")
    return output
