"""The curation app in a real browser: Debian's Chromium driven by Playwright (``executable_path``,
headless, no browser download) against a real server on a free port.

Screenshots of the review page, a rejected save, the queue and the dashboard are kept in
``test-artifacts/`` (or ``$CURALOG_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

import curalog
from curalog.web import Running, start

ARTIFACTS = Path(
    os.environ.get("CURALOG_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")
)


@pytest.fixture
def served(croot: Path) -> Iterator[Running]:
    running = start(croot, port=0)
    yield running
    running.stop()


def open_review(browser, served: Running, project: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served.base}/review?project={project}&token={served.token}")
    page.wait_for_selector("#review[data-ready='1']")
    return page, errors


def shown(page, key: str) -> None:
    page.wait_for_selector(f"#review[data-ready='1'][data-set-key='{key}']")


def drag(page, idx: int, start: tuple[float, float], end: tuple[float, float]) -> tuple[dict, list[float]]:
    """Drag on variant ``idx`` between two points given as fractions of the image shown; returns
    the image's box on the page and the fractions the mouse really went to."""
    img = page.locator(f".variant[data-idx='{idx}'] img")
    b = img.bounding_box()
    assert b is not None and b["width"] > 50
    x1, y1 = round(b["x"] + start[0] * b["width"]), round(b["y"] + start[1] * b["height"])
    x2, y2 = round(b["x"] + end[0] * b["width"]), round(b["y"] + end[1] * b["height"])
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move((x1 + x2) / 2, (y1 + y2) / 2, steps=4)
    page.mouse.move(x2, y2, steps=4)
    page.mouse.up()
    fr = [
        (x1 - b["x"]) / b["width"],
        (y1 - b["y"]) / b["height"],
        (x2 - b["x"]) / b["width"],
        (y2 - b["y"]) / b["height"],
    ]
    return b, fr


def assert_box(actual, fractions: list[float], size: tuple[int, int], shown_box: dict) -> None:
    """The ledger's pixel box equals the mouse's fractions of the real size, to within what one
    screen pixel covers of the real image (plus rounding)."""
    w, h = size
    tol_x, tol_y = w / shown_box["width"] + 1, h / shown_box["height"] + 1
    expected = (fractions[0] * w, fractions[1] * h, fractions[2] * w, fractions[3] * h)
    for got, want, tol in zip(actual, expected, (tol_x, tol_y, tol_x, tol_y), strict=True):
        assert abs(got - want) <= tol, (actual, expected)


def decisions(root: Path, retracted: bool = False) -> list:
    with curalog.open_project(root) as p:
        return list(p.ledger.decisions(retracted=retracted))


def test_pick_crop_save_exif_skip_undo_with_keyboard_and_mouse(browser, served: Running, croot: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_review(browser, served, "shoot")
    shown(page, "shoot/raw/a")
    assert page.locator(".variant").count() == 3
    # keyboard pick, mouse crop
    page.keyboard.press("2")
    assert page.locator(".variant.chosen").get_attribute("data-idx") == "1"
    shown_a, fr_a = drag(page, 1, (0.1, 0.25), (0.6, 0.75))
    assert page.locator("#crop-box").is_visible()
    page.screenshot(path=str(ARTIFACTS / "review-crop.png"))
    page.keyboard.press("Enter")
    shown(page, "shoot/raw/b")
    assert "Saved crop" in page.locator("#notice").inner_text()
    (a,) = decisions(croot)
    assert (a.kind, a.set_id, a.chosen_idx, a.chosen.path) == ("crop", "a", 1, "shoot/raw/a_stage2.png")
    assert_box(a.box, fr_a, (640, 480), shown_a)

    # the EXIF-rotated set: shown upright (portrait), cropped in the seen image's pixels
    img = page.locator(".variant[data-idx='0'] img").bounding_box()
    assert img is not None and img["height"] > img["width"] * 1.8
    page.keyboard.press("1")
    # a corner handle adjusts the box: draw, then pull the bottom-right corner further
    drag(page, 0, (0.2, 0.2), (0.5, 0.5))
    handle = page.locator("#crop-box .handle.se").bounding_box()
    assert handle is not None
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(img["x"] + 0.7 * img["width"], img["y"] + 0.8 * img["height"], steps=5)
    page.mouse.up()
    x2 = round(img["x"] + 0.7 * img["width"])
    y2 = round(img["y"] + 0.8 * img["height"])
    page.keyboard.press("Enter")
    shown(page, "shoot/raw/c")
    b = decisions(croot)[1]
    assert (b.set_id, b.chosen.width, b.chosen.height) == ("b", 300, 600)
    start_x = round(img["x"] + 0.2 * img["width"])
    start_y = round(img["y"] + 0.2 * img["height"])
    fr_b = [(start_x - img["x"]) / img["width"], (start_y - img["y"]) / img["height"],
            (x2 - img["x"]) / img["width"], (y2 - img["y"]) / img["height"]]  # fmt: skip
    assert_box(b.box, fr_b, (300, 600), img)

    # five stages: four shown, the fifth named; skip puts it back, Z undoes the skip, then the crop
    assert page.locator(".variant").count() == 4
    assert "1 more variant" in page.locator("#set-note").inner_text()
    page.keyboard.press("s")
    expect(page.locator("#notice")).to_have_text(re.compile("^Skipped"))
    shown(page, "shoot/raw/c")  # the only set left: it comes back
    page.keyboard.press("z")
    expect(page.locator("#notice")).to_have_text(re.compile("^Undid the skip"))
    page.keyboard.press("z")
    shown(page, "shoot/raw/b")
    assert "Undid the decision" in page.locator("#notice").inner_text()
    live, every = decisions(croot), decisions(croot, retracted=True)
    assert [d.set_id for d in live] == ["a"] and [d.set_id for d in every] == ["a", "b"]
    # deciding b again, as a selection this time (Enter without a box)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    shown(page, "shoot/raw/c")
    assert [(d.set_id, d.kind) for d in decisions(croot)] == [("a", "crop"), ("b", "selection")]
    timings = page.evaluate("window.curalogTimings")
    assert len(timings) == 4 and all(t > 0 for t in timings)  # 3 saves and a skip
    print(f"save -> next set shown (ms): {[round(t, 1) for t in timings]}")
    assert errors == []


def test_rejected_save_is_shown_and_writes_nothing(browser, served: Running, croot: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, errors = open_review(browser, served, "other")
    shown(page, "other/x")
    page.keyboard.press("Enter")  # nothing picked yet
    assert "Pick an image first" in page.locator("#problems").inner_text()
    page.keyboard.press("1")
    drag(page, 0, (0.3, 0.3), (0.8, 0.9))
    # the set was embedded in the background when the page fetched it; wait for that worker
    served.app.state.curator.prepare("other/x").result()
    # the chosen file vanishes before the save (another tool moved it)
    moved = croot / "other" / "x_stage1.png"
    moved.rename(croot / "x_stage1.png.away")
    page.keyboard.press("Enter")
    problems = page.locator("#problems")
    expect(problems).to_contain_text("image.missing")
    assert "Not saved: 1 problem" in problems.inner_text() and "other/x_stage1.png" in problems.inner_text()
    page.screenshot(path=str(ARTIFACTS / "review-rejected.png"))
    assert decisions(croot, retracted=True) == []
    assert page.locator("#review").get_attribute("data-set-key") == "other/x"  # still on the set
    (croot / "x_stage1.png.away").rename(moved)
    page.keyboard.press("a")  # aspect preset 1:1: the box becomes square in the image's pixels
    expect(page.locator("[data-aspect='1:1']")).to_have_class(re.compile(r"\bon\b"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#done:not([hidden])")
    (d,) = decisions(croot)
    assert (d.set_id, d.kind) == ("x", "crop")
    x1, y1, x2, y2 = d.box
    assert abs((x2 - x1) - (y2 - y1)) <= 2 and x2 - x1 > 50, d.box
    assert errors == []


def test_queue_and_dashboard_pages(browser, served: Running, croot: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, _ = open_review(browser, served, "shoot")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    shown(page, "shoot/raw/b")
    page.goto(f"{served.base}/?project=shoot")
    assert page.locator("#counts").inner_text().startswith("2 left · 1 done · 0 skipped")
    assert page.locator("tr.done").count() == 1
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)
    page.goto(f"{served.base}/dashboard")
    session = page.locator("#session")
    assert session.is_visible()
    labels = session.locator(".card .label").all_inner_texts()
    values = session.locator(".card .value").all_inner_texts()
    figures = dict(zip(labels, values, strict=True))
    assert figures["Decisions"] == "1" and figures["Rejected"] == "0" and figures["Left"] == "4"
    assert figures["Skipped"] == "0" and int(figures["Per hour"]) >= 1
    assert page.locator("#cards .card").count() == 8
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
