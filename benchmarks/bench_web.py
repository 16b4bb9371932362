"""The curation app's pace: time from a save (Enter) to the next set shown, decoded and painted.

Drives Debian's Chromium (Playwright, headless) through a generated project of camera-sized
images: pick, drag a crop, Enter, as a person would. Half of the sets were embedded beforehand
(as after `curalog embed`); on the other half every save embeds the set first. Also times the
server's preview of one image, cold and cached.

``--suggestions``: the pace with and without the model's suggestions (issue 19). A project whose
person picks the reddest variant and crops its white square is curated for 80 sets through the
API, built and trained; then a simulated curator with that taste curates new sets in the
browser, once with the model in use and once without: it looks (``--look`` s), then accepts a
suggestion that is its own pick with a box of IoU >= 0.5 (Enter), or picks and draws its own box
(``--draw`` s more). Printed: time from a set shown to its decision saved, decisions per hour.

    .venv/bin/python benchmarks/bench_web.py [--sets 40] [--size 2048x1536] [--think 1]
    .venv/bin/python benchmarks/bench_web.py --suggestions [--sets 30] [--look 1] [--draw 2]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import curalog
from bench_ledger import percentile
from curalog.curation import PreviewCache
from curalog.demo import landscape, stages_of
from curalog.web import start

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def make_project(root: Path, n_sets: int, size: tuple[int, int]) -> list[str]:
    rng = random.Random(11)
    folder = root / "shoot" / "raw"
    folder.mkdir(parents=True)
    paths = []
    for i in range(n_sets):
        small = landscape(rng, (size[0] // 4, size[1] // 4))
        for s, im in enumerate(stages_of(small), start=1):
            name = f"img_{i:04d}_stage{s}.png"
            im.resize(size, resample=3).save(folder / name)
            paths.append(f"shoot/raw/{name}")
    curalog.init_project(root)
    return paths


def summary(label: str, values: list[float]) -> str:
    med, p90 = statistics.median(values), percentile(values, 90)
    return f"{label}: median {med:.1f} ms, p90 {p90:.1f} ms, max {max(values):.1f} ms (n={len(values)})"


def run(n_sets: int, size: tuple[int, int], think: float = 0.0) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-web-"))
    try:
        root = tmp / "proj"
        paths = make_project(root, n_sets, size)
        half = n_sets // 2
        with curalog.open_project(root) as p:
            p.embed(paths[: 3 * half])  # the first half embedded beforehand
        cache = PreviewCache(root)
        t = time.perf_counter()
        cache.get(paths[-1])
        cold = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        cache.get(paths[-1])
        warm = (time.perf_counter() - t) * 1000
        running = start(root, port=0)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"{running.base}/review?token={running.token}")
                page.wait_for_selector("#review[data-ready='1']")
                for i in range(n_sets):
                    key = page.locator("#review").get_attribute("data-set-key")
                    if think:
                        time.sleep(think)  # a person looking at the set (what prefetch overlaps)
                    page.keyboard.press(str(1 + i % 3))
                    img = page.locator(f".variant[data-idx='{i % 3}'] img").bounding_box()
                    assert img is not None
                    page.mouse.move(img["x"] + 0.1 * img["width"], img["y"] + 0.15 * img["height"])
                    page.mouse.down()
                    page.mouse.move(img["x"] + 0.8 * img["width"], img["y"] + 0.85 * img["height"], steps=3)
                    page.mouse.up()
                    page.keyboard.press("Enter")
                    page.wait_for_selector(f"#review[data-ready='1']:not([data-set-key='{key}'])")
                timings = page.evaluate("window.curalogTimings")
                browser.close()
        finally:
            running.stop()
        with curalog.open_project(root) as p:
            assert p.ledger.count("crop") == n_sets, "every save reached the ledger"
        return {"embedded": timings[:half], "not embedded": timings[half:], "preview": [cold, warm]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict[str, list[float]], size: tuple[int, int], think: float = 0.0) -> None:
    pace = f"{think:g} s looking at each set" if think else "back to back"
    print(f"curation app, {size[0]}x{size[1]} PNG variants, 3 per set, headless Chromium, {pace}")
    print("  " + summary("save -> next set shown, images embedded beforehand", r["embedded"]))
    print("  " + summary("save -> next set shown, set embedded at save", r["not embedded"]))
    print(f"  preview of one image: cold {r['preview'][0]:.1f} ms, cached {r['preview'][1]:.2f} ms")


def _taste_sets(root: Path, first: int, n: int, seed: int) -> dict[str, tuple[int, tuple[float, ...]]]:
    """Sets of three 640x480 plain-colour variants with a white square; set key -> (the reddest
    variant, its square normalized): the simulated person's pick and crop."""
    from PIL import Image

    rng = random.Random(seed)
    truth = {}
    for s in range(first, first + n):
        redness, squares = [], []
        for v in range(3):
            colour = tuple(rng.randrange(256) for _ in range(3))
            img = Image.new("RGB", (640, 480), colour)
            x, y = rng.randrange(400), rng.randrange(240)
            img.paste((255, 255, 255), (x, y, x + 240, y + 240))
            path = root / "shoot" / "raw" / f"s{s:04d}_stage{v + 1}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)
            redness.append(colour[0] - (colour[1] + colour[2]) / 2)
            squares.append((x / 640, y / 480, (x + 240) / 640, (y + 240) / 480))
        best = max(range(3), key=redness.__getitem__)
        truth[f"shoot/raw/s{s:04d}"] = (best, squares[best])
    return truth


def _trained_project(root: Path, n_curate: int) -> dict[str, tuple[int, tuple[float, ...]]]:
    """80 sets decided through the API with the person's taste, built and trained; returns the
    truth of ``n_curate`` new sets left to curate."""
    from curalog.dataset import build
    from curalog.training import train

    past = _taste_sets(root, 0, 80, seed=5)
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        keys = list(past)
        p.embed([f"{k}_stage{v + 1}.png" for k in keys for v in range(3)])
        with p.session(tool="bench") as session:
            for n, (key, (best, sq)) in enumerate(past.items()):
                paths = [f"{key}_stage{v + 1}.png" for v in range(3)]
                if n % 2:
                    box = (round(sq[0] * 640), round(sq[1] * 480), round(sq[2] * 640), round(sq[3] * 480))
                    session.log_crop(key.rsplit("/", 1)[1], "shoot/raw", paths, best, box)
                else:
                    session.log_selection(key.rsplit("/", 1)[1], "shoot/raw", paths, best)
    train(root, build(root, root / "data" / "dataset").out)
    return _taste_sets(root, 1000, n_curate, seed=6)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _curate(page, truth: dict, look: float, draw: float, suggestions: bool) -> tuple[list[float], int]:
    """The simulated person over every set: seconds from a set shown to its decision saved, and
    how many suggestions it accepted."""
    times, accepted = [], 0
    answered = "#review:is([data-suggestion='shown'], [data-suggestion='none'])"
    for _ in truth:
        page.wait_for_selector("#review[data-ready='1']", timeout=60_000)
        key = page.locator("#review").get_attribute("data-set-key")
        shown_at = time.perf_counter()  # the set is shown: the person looks (the suggestion may come)
        best, square = truth[key]
        time.sleep(look)
        if suggestions:  # not there yet after looking: the person waits for it (counted)
            page.wait_for_selector(answered, timeout=60_000)
        s = page.evaluate("window.curalogSuggestion || null") if suggestions else None
        if s and s["index"] == best and s["box"] and _iou(tuple(s["box"]), square) >= 0.5:
            accepted += 1
        else:
            time.sleep(draw)
            page.keyboard.press(str(best + 1))
            img = page.locator(f".variant[data-idx='{best}'] img").bounding_box()
            page.mouse.move(img["x"] + square[0] * img["width"], img["y"] + square[1] * img["height"])
            page.mouse.down()
            page.mouse.move(
                img["x"] + square[2] * img["width"], img["y"] + square[3] * img["height"], steps=3
            )
            page.mouse.up()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#review[data-ready='1']:not([data-set-key='{key}'])", timeout=60_000)
        times.append(time.perf_counter() - shown_at)
    return times, accepted


def run_suggestions(n_sets: int, look: float, draw: float) -> dict[str, object]:
    """The pace with the model's suggestions and without (the same sets, two copies of one project)."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="curalog-bench-suggest-"))
    try:
        with_model = tmp / "with"
        truth = _trained_project(with_model, n_sets)
        without = tmp / "without"
        shutil.copytree(with_model, without)
        (without / "data" / "models" / "active.json").unlink()  # no model in use there
        out: dict[str, object] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for label, root, on in (("with suggestions", with_model, True), ("without", without, False)):
                running = start(root, port=0)
                try:
                    page = browser.new_page(viewport={"width": 1600, "height": 1000})
                    page.goto(f"{running.base}/review?token={running.token}")
                    out[label] = _curate(page, truth, look, draw, on)
                    page.close()
                finally:
                    running.stop()
                with curalog.open_project(root) as p:
                    shown = p.ledger.shown()
                    out[label + " ledger"] = (p.ledger.count(), [r.shown.outcome for r in shown])
            browser.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report_suggestions(r: dict, n_sets: int, look: float, draw: float) -> None:
    print(
        f"curation pace with and without suggestions: {n_sets} sets of 3 (640x480), a simulated person "
        f"looking {look:g} s and drawing its own crop in {draw:g} s more, headless Chromium"
    )
    for label in ("with suggestions", "without"):
        times, accepted = r[label]  # type: ignore[misc]
        med = statistics.median(times)
        rate = 3600 / statistics.mean(times)
        extra = f", {accepted}/{len(times)} suggestions accepted as they were" if label != "without" else ""
        print(
            f"  {label}: set shown -> decision saved median {med:.2f} s, p90 {percentile(times, 90):.2f} s, "
            f"{rate:,.0f} decisions/hour{extra}"
        )
    decided, outcomes = r["with suggestions ledger"]  # type: ignore[misc]
    print(
        f"  ledger: {decided} decisions with suggestions shown: "
        + ", ".join(f"{o} {outcomes.count(o)}" for o in ("accepted", "edited", "overridden"))
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--size", default="2048x1536")
    ap.add_argument("--think", type=float, default=0.0, help="seconds spent looking at each set")
    ap.add_argument("--suggestions", action="store_true", help="the pace with and without suggestions")
    ap.add_argument("--look", type=float, default=1.0, help="--suggestions: seconds looking at a set")
    ap.add_argument("--draw", type=float, default=2.0, help="--suggestions: seconds to pick and draw a crop")
    a = ap.parse_args()
    if a.suggestions:
        report_suggestions(run_suggestions(a.sets, a.look, a.draw), a.sets, a.look, a.draw)
    else:
        w, h = (int(v) for v in a.size.split("x"))
        report(run(a.sets, (w, h), a.think), (w, h), a.think)
