"""The report renderers at the speed of the data (issue 18), held to plain references: the JSON is
byte for byte what the standard library writes for findings.md's shape (built here one dict per
finding, by hand), and every HTML table row reads back, through an HTML parser, as its finding."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curalog.codes import SEVERITY
from curalog.validate import validate
from curalog.validate.model import Finding, Report
from curalog.validate.render import render_html, render_json
from tests.legacy_project import build

FIELDS = ("code", "severity", "source", "line", "project", "path", "message", "fix")


def reference_json(r: Report) -> str:
    """findings.md's JSON report, one plain dict per finding, written by the standard library."""
    by_code: dict[str, int] = {}
    for f in r.findings:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    doc = {
        "root": r.root, "generated_at": r.generated_at,
        "summary": {"selections": r.selections, "crops": r.crops, "index_entries": r.index_entries,
                    "embedding_files": r.embedding_files, "usable_selections": r.usable_selections,
                    "usable_crops": r.usable_crops,
                    "errors": sum(1 for f in r.findings if f.severity == "error"),
                    "warnings": sum(1 for f in r.findings if f.severity == "warning"),
                    "by_code": dict(sorted(by_code.items()))},
        "findings": [{k: getattr(f, k) for k in FIELDS} for f in r.findings],
        "recommendations": list(r.recommendations),
    }  # fmt: skip
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.in_body = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows.append([])
        elif tag == "td" and self.in_body:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _rows_of(page: str) -> list[list[str]]:
    parser = Rows()
    parser.feed(page)
    return parser.rows


def _shown(f: Finding) -> list[str]:
    return [f.source + ("" if f.line is None else f":{f.line}"), f.project, f.path, f.message, f.fix]


@pytest.mark.usefixtures("both_backends")
def test_the_json_and_html_of_the_legacy_project_match_the_references(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    build(root)
    report = validate(root)
    assert len(report.findings) > 20
    assert render_json(report) == reference_json(report)
    assert json.loads(render_json(report)) == report.to_dict()
    rows = _rows_of(render_html(report))
    assert sorted(rows) == sorted(_shown(f) for f in report.findings)


text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # what a str may hold in UTF-8
findings = st.lists(
    st.builds(Finding, st.sampled_from(sorted(SEVERITY)), st.sampled_from(["error", "warning"]), text,
              st.none() | st.integers(1, 10**9), text, text, text, text),
    max_size=30,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(findings, text, st.lists(text, max_size=3))
def test_any_report_renders_as_the_references_say(items: list[Finding], root: str, recs: list[str]) -> None:
    report = Report(root, "2026-11-30T00:00:00+00:00", 3, 2, 1, 0, 2, 1, items, recs)
    assert render_json(report) == reference_json(report)
    rows = _rows_of(render_html(report))
    # the parser joins text and unescapes; \r becomes part of the data as written
    assert sorted(rows) == sorted(_shown(f) for f in items)


def test_a_lone_surrogate_takes_the_standard_librarys_path() -> None:
    f = Finding("row.malformed", "error", "log.csv", 3, "", "bad\udcfename.png", "m", "x")
    report = Report("/r", "t", findings=[f])
    assert render_json(report) == reference_json(report)


def test_the_compact_form_the_memo_keeps_reads_back_as_the_report() -> None:
    f = Finding("row.malformed", "error", "log.csv", 3, "", "bad\udcfename.png", "m é", "x")
    g = Finding("image.missing", "warning", "log.csv", None, "mojo1", "a.png", "gone", "y")
    for items in ([f, g], [g]):
        report = Report("/r", "t", 1, 2, 3, 4, 5, 6, items, ["fix"])
        compact = report.to_json()
        compact.encode("utf-8")  # what the cache stores: a surrogate is escaped, never raw
        assert Report.from_dict(json.loads(compact)) == report
