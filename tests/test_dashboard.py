"""The health dashboard, checked in a real browser: Debian's Chromium driven by Playwright
(``executable_path``, headless, no browser download; ``make test`` installs the package)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from curalog.monitor.dashboard import cards, write_dashboard
from curalog.monitor.health import take_snapshot
from curalog.project import Project
from tests.conftest import ARGS, CHROMIUM, SET0, SET1

pytestmark = pytest.mark.usefixtures("both_backends")

DAY0 = datetime(2026, 3, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
def history(embedded: Project) -> Project:
    """Five days of curation, one snapshot a day, and a vector file lost on the last day."""
    for day in range(5):
        with embedded.session(tool="test") as s:
            for n in range(day + 1):
                s.log_selection(f"set_{day}_{n}", "mojo1/selected", SET0 if n % 2 else SET1, n % 3)
        if day == 4:
            (embedded.embeddings.directory / f"{embedded.facts.get(SET1[0]).sha256}.npy").unlink()
        take_snapshot(embedded, now=DAY0 + timedelta(days=day))
    return embedded


def test_dashboard_is_self_contained(history: Project, tmp_path: Path) -> None:
    html = write_dashboard(history, tmp_path / "dash.html").read_text()
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert not re.search(r"url\(\s*['\"]?https?:", html)
    assert html.count("<svg") == 3 and "Decisions per day" in html


def test_cards_are_coloured_by_thresholds(history: Project) -> None:
    result = take_snapshot(history, now=DAY0 + timedelta(days=5), record=False)
    by_label = {c["label"]: c for c in cards(result.figures)}
    assert by_label["Errors"]["state"] == "bad" and by_label["Errors"]["value"] == "1"
    assert by_label["Crops with valid sizes"]["state"] == "ok"  # no crops: nothing wrong
    sel = by_label["Selections with embeddings"]
    f = result.figures
    assert sel["detail"] == f"{f.selections_embedded} of {f.selections}" and f.selections == 15
    # the 5 ledger selections (one a day) that chose the image whose vector was lost
    assert f.selections_embedded == 10
    assert sel["state"] == ("ok" if f.selections_embedded == f.selections else "bad")


def test_dashboard_in_headless_chromium(history: Project, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium (make test does)"
    page_path = write_dashboard(history, tmp_path / "dash.html")
    shot = tmp_path / "dashboard.png"
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.goto(page_path.as_uri())
            # the figures, as a person reads them
            cards_ = page.locator("#cards .card")
            assert cards_.count() == 8
            for i in range(cards_.count()):
                assert cards_.nth(i).is_visible()
            errors = page.locator(".card", has_text="Errors").first
            assert (
                errors.locator(".value").inner_text() == "1" and errors.get_attribute("data-state") == "bad"
            )
            sel = page.locator(".card", has_text="Selections with embeddings")
            assert re.fullmatch(r"\d+\.\d%", sel.locator(".value").inner_text())
            assert page.locator("#status").inner_text() == "Problems to fix"
            # three charts, drawn at a readable size, with their titles and day labels as text
            for chart_id, title in (("chart-decisions", "Decisions per day"),
                                    ("chart-embeddings", "% with embeddings"),
                                    ("chart-errors", "Errors per code")):  # fmt: skip
                svg = page.locator(f"#{chart_id} svg")
                assert svg.is_visible()
                box = svg.bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 120
                assert title in page.locator(f"#{chart_id}").inner_text()
            assert "03-05" in page.locator("#chart-decisions").inner_text()  # the last simulated day
            assert "embedding.file_missing" in page.locator("#chart-errors").inner_text()
            # the newest findings and the fix
            group = page.locator('#findings .group[data-code="embedding.file_missing"]')
            assert group.is_visible() and "embedding.file_missing · 1" in group.inner_text()
            assert "curalog embed --missing" in page.locator("#fixes").inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert requested == [page_path.as_uri()]  # nothing but the page itself: no network
    assert shot.stat().st_size > 20_000
