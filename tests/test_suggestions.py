"""Suggestions in the curation app: the model in use picks a variant and draws a box; the decision
records what was shown and what the person did with it (accepted, edited, overridden), on both
ledger backends, and in a real browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import curalog
from curalog import dataset
from curalog.curation import Curator
from curalog.curation.suggestions import Suggestion
from curalog.training import train
from tests.test_training import _curated_project, _synthetic

pytestmark = pytest.mark.usefixtures("both_backends")


def _new_sets(root: Path, n: int = 6, seed: int = 7) -> dict[str, tuple[int, tuple[float, ...]]]:
    """Sets still to curate, made like the trained ones: set key -> (the reddest variant, the
    normalized box of its white square)."""
    rng = np.random.default_rng(seed)
    truth = {}
    for s in range(n):
        redness, squares = [], []
        for v in range(3):
            colour = rng.integers(0, 256, 3)
            img = Image.new("RGB", (64, 48), tuple(int(c) for c in colour))
            x, y = int(rng.integers(0, 41)), int(rng.integers(0, 25))
            img.paste((255, 255, 255), (x, y, x + 24, y + 24))
            path = root / "mojo1" / "incoming" / f"new{s}_stage{v + 1}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)
            redness.append(int(colour[0]) - (int(colour[1]) + int(colour[2])) / 2)
            squares.append((x / 64, y / 48, (x + 24) / 64, (y + 24) / 48))
        best = int(np.argmax(redness))
        truth[f"mojo1/incoming/new{s}"] = (best, squares[best])
    return truth


@pytest.fixture
def trained(tmp_path: Path) -> tuple[Path, dict]:
    root = _curated_project(tmp_path / "proj", predictable=True)
    train(root, dataset.build(root, tmp_path / "ds").out)
    return root, _new_sets(root)


def test_suggestions_follow_the_model_and_the_ledger_records_each_answer(trained) -> None:
    root, truth = trained
    with curalog.open_project(root) as project:
        curator = Curator(project)
        try:
            got = {key: curator.suggest(key) for key in truth}
            assert all(isinstance(s, Suggestion) for s in got.values()), got
            right = sum(s.index == truth[k][0] for k, s in got.items())  # type: ignore[union-attr]
            assert right >= 5, got  # the reddest, as the person picked in training
            k1, k2, k3, k4, k5, _k6 = truth
            s1, s2, s3, s4 = (got[k] for k in (k1, k2, k3, k4))
            assert isinstance(s1, Suggestion) and s1.box is not None
            # accepted: the suggested image and box, as the page sends them back
            assert curator.decide(k1, s1.index, s1.box, s1.token).suggestion == "accepted"
            # edited: the suggested image, the box moved
            moved = (0.0, 0.0, 0.5, 0.5)
            assert curator.decide(k2, s2.index, moved, s2.token).suggestion == "edited"  # type: ignore[union-attr]
            # overridden: another image
            other = (s3.index + 1) % 3  # type: ignore[union-attr]
            assert curator.decide(k3, other, None, s3.token).suggestion == "overridden"  # type: ignore[union-attr]
            # the suggested image saved as a selection: its box was not taken
            assert curator.decide(k4, s4.index, None, s4.token).suggestion == "edited"  # type: ignore[union-attr]
            # decided before the page showed a suggestion (no token): none recorded
            assert curator.decide(k5, 0, None, "").suggestion == ""
            rows = {r.decision_id: r for r in project.ledger.shown()}
            assert [r.shown.outcome for r in rows.values()] == ["accepted", "edited", "overridden", "edited"]
            first = next(iter(rows.values())).shown
            assert (first.model_id, first.index, first.box) == (s1.model_id, s1.index, s1.box)
            assert first.box_iou is not None and first.box_iou > 0.9  # the same box, to a pixel
            edited = list(rows.values())[1].shown
            assert edited.box_iou is not None and edited.box_iou < 0.9
            assert list(rows.values())[2].shown.box_iou is None
            # what counts as the decision is the person's, not the model's
            decisions = {d.set_id: d for d in project.ledger.decisions()}
            assert decisions["new2"].chosen_idx == other and decisions["new2"].kind == "selection"
            # an undone decision leaves the agreement figures with it
            curator.undo()
            curator.undo()
            assert len(project.ledger.shown()) == 3
        finally:
            curator.close()


def test_a_model_of_other_vectors_suggests_nothing_and_says_why(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    truth = _new_sets(root, n=2)
    curalog.init_project(root)
    with curalog.open_project(root) as project:
        curator = Curator(project)
        try:
            assert curator.suggest(next(iter(truth))) == ""  # no model trained: nothing to say
        finally:
            curator.close()
    train(root, _synthetic(tmp_path / "toy"))  # vectors of "toy:dim16", not this project's
    with curalog.open_project(root) as project:
        curator = Curator(project)
        try:
            why = curator.suggest(next(iter(truth)))
            assert isinstance(why, str) and "toy:dim16" in why and "thumbnail-v1" in why
            key = next(iter(truth))
            assert curator.decide(key, 0, None, "whatever:0").suggestion == ""
            assert project.ledger.shown() == []
        finally:
            curator.close()


def test_the_review_page_shows_the_suggestion_enter_accepts_and_a_pick_overrides(trained, browser) -> None:
    from curalog.web import start
    from tests.test_web_browser import drag

    root, truth = trained
    running = start(root, port=0)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{running.base}/review?project=mojo1&token={running.token}")
        keys = list(truth)
        # accepted: the suggestion is shown (its variant picked, its box dashed), Enter saves it
        page.wait_for_selector(f"#review[data-set-key='{keys[0]}'][data-suggestion='shown']")
        assert page.locator(".variant.suggested.chosen").count() == 1
        assert page.locator("#crop-box.suggested").is_visible()
        assert "Enter accepts" in page.locator("#suggestion-note").inner_text()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#review[data-set-key='{keys[1]}'][data-suggestion='shown']")
        assert "suggestion accepted" in page.locator("#notice").inner_text()
        # edited: the box redrawn on the suggested image
        chosen = int(page.locator(".variant.chosen").get_attribute("data-idx"))
        drag(page, chosen, (0.05, 0.05), (0.4, 0.5))
        assert page.locator("#crop-box.suggested").count() == 0  # no longer the suggestion
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#review[data-set-key='{keys[2]}'][data-suggestion='shown']")
        assert "suggestion edited" in page.locator("#notice").inner_text()
        # overridden: another image picked
        chosen = int(page.locator(".variant.chosen").get_attribute("data-idx"))
        page.keyboard.press(str((chosen + 1) % 3 + 1))
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#review[data-set-key='{keys[3]}']")
        assert "suggestion overridden" in page.locator("#notice").inner_text()
        assert errors == []
    finally:
        running.stop()
    with curalog.open_project(root) as project:
        assert [r.shown.outcome for r in project.ledger.shown()] == ["accepted", "edited", "overridden"]


def test_the_dashboard_and_the_snapshot_show_the_agreement_and_a_drop_raises_an_alert(trained) -> None:
    from datetime import UTC, datetime

    from curalog.monitor.agreement import MIN_SHOWN, drops
    from curalog.monitor.alerts import claim_alerts
    from curalog.monitor.dashboard import render_dashboard
    from curalog.monitor.health import Figures, HealthResult, take_snapshot

    root, truth = trained
    with curalog.open_project(root) as project:
        first = take_snapshot(project).figures
        assert (first.suggestions_shown, first.acceptance_recent) == (0, None)
        assert first.model_id and first.model_accuracy is not None and first.model_accuracy > 0.5
        curator = Curator(project)
        try:
            for key in list(truth)[:4]:
                s = curator.suggest(key)
                assert isinstance(s, Suggestion)
                chosen = s.index if key != list(truth)[3] else (s.index + 1) % 3
                curator.decide(key, chosen, s.box if chosen == s.index else None, s.token)
        finally:
            curator.close()
        result = take_snapshot(project)
        f = result.figures
        assert (f.suggestions_shown, f.suggestions_accepted) == (4, 3)
        assert f.acceptance_recent is None  # fewer than MIN_SHOWN answered since the last snapshot
        html = render_dashboard(project, result)
        assert 'id="agreement"' in html and ">75%<" in html and "in use" in html and first.model_id in html
        # acceptance and accuracy, each compared with the snapshot before
        before = Figures("2026-01-01T00:00:00Z", acceptance_recent=0.8, model_accuracy=0.9, model_id="a")
        after = Figures("2026-01-02T00:00:00Z", acceptance_recent=0.65, model_accuracy=0.85, model_id="b")
        assert drops(before, after, 0.1) == ["suggestion acceptance fell from 80% to 65%"]
        assert len(drops(before, after, 0.04)) == 2 and drops(before, after, 0.2) == []
        fell = HealthResult(after, result.report, before, [], False)
        alerts = [
            a for a in claim_alerts(project, fell, datetime.now(UTC), 0.1) if a.kind == "agreement_drop"
        ]
        assert len(alerts) == 1 and "acceptance fell from 80% to 65%" in alerts[0].title
        assert MIN_SHOWN > 4
