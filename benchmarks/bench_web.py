"""The curation app's pace: time from a save (Enter) to the next set shown, decoded and painted.

Drives Debian's Chromium (Playwright, headless) through a generated project of camera-sized
images: pick, drag a crop, Enter, as a person would. Half of the sets were embedded beforehand
(as after `curalog embed`); on the other half every save embeds the set first. Also times the
server's preview of one image, cold and cached.

    .venv/bin/python benchmarks/bench_web.py [--sets 40] [--size 2048x1536] [--think 1]
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


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--size", default="2048x1536")
    ap.add_argument("--think", type=float, default=0.0, help="seconds spent looking at each set")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    report(run(a.sets, (w, h), a.think), (w, h), a.think)
