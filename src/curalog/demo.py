"""``curalog demo``: a sample project, made and curated through the real API.

It generates a few dozen sets of image variants (procedural landscapes, three stages each, one
EXIF-rotated JPEG), embeds them, logs selections and crops, shows a bad decision being refused
with every reason, verifies the store, and says what to run next.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from curalog.errors import ConfigError, DecisionRejected
from curalog.progress import Progress

if TYPE_CHECKING:
    from curalog.ledger import Session
    from curalog.monitor.nightly import CheckResult
    from curalog.project import Project

MARKER = ".curalog-demo"
DAYS = 6  # decisions are spread over this many simulated days, one health snapshot each
STAGES = ("stage1", "stage2", "stage3")
WAITING = "mojo3/incoming"  # sets the demo leaves for a person to curate in the web app
TASTE = 0.85  # how often the simulated person picks stage2 (else a stage at random)


def _lerp(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def landscape(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """A small procedural landscape: sky gradient, sun, layered ridges, a lake, some trees."""
    w, h = size
    top = (rng.randint(20, 90), rng.randint(60, 140), rng.randint(150, 255))
    bottom = (rng.randint(200, 255), rng.randint(140, 220), rng.randint(90, 180))
    im = Image.new("RGB", size)
    draw = ImageDraw.Draw(im)
    for y in range(h):
        draw.line([(0, y), (w, y)], fill=_lerp(top, bottom, y / h))
    r = rng.randint(h // 14, h // 7)
    cx, cy = rng.randint(r, w - r), rng.randint(r, h // 2)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, rng.randint(200, 245), 150))
    for layer in range(3):
        base = int(h * (0.45 + 0.13 * layer))
        pts = [(0, h)]
        for x in range(0, w + 40, 40):
            pts.append((x, base - rng.randint(0, int(h * 0.2))))
        pts.append((w, h))
        shade = 40 + 35 * layer
        draw.polygon(pts, fill=(shade // 2, shade + rng.randint(0, 40), shade // 2 + 20))
    lake_y = int(h * 0.8)
    draw.ellipse(
        [rng.randint(0, w // 3), lake_y, rng.randint(w // 2, w), h + h // 6],
        fill=(60, 110, rng.randint(160, 220)),
    )
    for _ in range(rng.randint(3, 9)):
        tx, ty = rng.randint(0, w), rng.randint(int(h * 0.6), int(h * 0.85))
        th = rng.randint(h // 12, h // 6)
        draw.polygon([(tx, ty - th), (tx - th // 3, ty), (tx + th // 3, ty)], fill=(20, 70, 30))
    return im


def natural_image(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    """Gradients, shapes, texture and noise (a procedural landscape plus clutter)."""
    im = landscape(rng, size)
    draw = ImageDraw.Draw(im)
    w, h = size
    for _ in range(rng.randint(6, 14)):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randint(8, max(9, w // 8))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    nprng = np.random.default_rng(rng.randrange(2**32))
    arr = np.asarray(im.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
    texture = nprng.normal(0, 6, (-(-h // 4), -(-w // 4), 1)).repeat(4, 0).repeat(4, 1)[:h, :w]
    arr = arr + texture + nprng.normal(0, 3, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def stages_of(base: Image.Image) -> list[Image.Image]:
    """Three variants of one image, as a generation pipeline's stages might be."""
    raw = ImageEnhance.Contrast(base.filter(ImageFilter.GaussianBlur(2))).enhance(0.7)
    enhanced = ImageEnhance.Sharpness(ImageEnhance.Color(base).enhance(1.3)).enhance(1.5)
    styled = ImageOps.posterize(ImageEnhance.Brightness(base).enhance(1.1), 4)
    return [raw, enhanced, styled]


@dataclass
class DemoSummary:
    root: Path
    sets: int = 0
    images: int = 0
    selections: int = 0
    crops: int = 0
    rejected: list[str] = field(default_factory=list)
    verify_ok: bool = False
    alerts: list[str] = field(default_factory=list)  # titles of the alerts the lost file raised
    quiet_rerun: bool = False  # the check after that announced nothing again
    dashboard: Path | None = None
    waiting: int = 0  # sets left undecided (in WAITING) for `curalog serve`
    model: str = ""  # the model trained on the decisions ("" when there were too few)


def make_images(
    root: Path, n_sets: int, seed: int, *, first: int = 0, where: str | None = None
) -> list[tuple[str, list[str]]]:
    """Write ``n_sets`` sets of three stages (numbered from ``first``) under
    ``root/mojo1/selected`` and ``root/mojo2/selected``, or all under ``root/<where>``.
    Set 7 (and every 36th after it) is a JPEG stored sideways with an EXIF orientation tag."""
    rng = random.Random(seed)
    sets = []
    for i in range(first, first + n_sets):
        rel = where or f"{'mojo1' if i % 3 else 'mojo2'}/selected"
        folder = root / rel
        folder.mkdir(parents=True, exist_ok=True)
        portrait = i % 5 == 4
        size = (360, 480) if portrait else (480, 360)
        names = []
        for stage, im in zip(STAGES, stages_of(landscape(rng, size)), strict=True):
            name = f"img_{i:04d}_{stage}"
            if i % 36 == 7:  # a JPEG stored sideways with an EXIF orientation tag (6: rotate 90)
                exif = Image.Exif()
                exif[0x0112] = 6
                im.transpose(Image.Transpose.ROTATE_90).save(
                    folder / f"{name}.jpg", quality=88, exif=exif.tobytes()
                )
                names.append(f"{rel}/{name}.jpg")
            else:
                im.save(folder / f"{name}.png")
                names.append(f"{rel}/{name}.png")
        sets.append((f"set_{i:04d}", names))
    return sets


def run_demo(
    root: str | Path,
    *,
    fresh: bool = False,
    n_sets: int = 36,
    n_waiting: int = 9,
    seed: int = 7,
    say: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> DemoSummary:
    from curalog.monitor import DASHBOARD
    from curalog.monitor.dashboard import write_dashboard
    from curalog.project import init_project, open_project

    root = _demo_folder(Path(root).expanduser().resolve(), fresh)
    summary = DemoSummary(root)
    say(f"[bold]1.[/] Generating {n_sets} image sets (3 stages each) in {root}, and {n_waiting} more for you")
    sets = make_images(root, n_sets, seed)
    summary.sets = len(sets)
    waiting = make_images(root, n_waiting, seed + 2, first=n_sets, where=WAITING) if n_waiting else []
    summary.waiting = len(waiting)
    summary.images = sum(len(names) for _, names in sets + waiting)
    init_project(root)
    say("[bold]2.[/] Wrote curalog.toml (layout defaults, crops require embeddings)")
    today = datetime.now(UTC)
    if (today.astimezone() + timedelta(minutes=2)).date() != today.astimezone().date():
        today -= timedelta(minutes=2)  # the nightly checks a minute later stay on the same day
    with open_project(root, tool="demo") as proj:
        _audit_images(proj, sets + waiting)
        with proj.session(tool="demo") as session:
            _embed_and_decide(proj, session, sets, summary, random.Random(seed + 1), today, say, progress)
        _verify_and_lose_a_vector(proj, summary, say)
    again = _nightly_checks(root, summary, today, say)
    with open_project(root, tool="demo") as proj:
        summary.dashboard = write_dashboard(proj, root / DASHBOARD, again.health)
    say(f"[bold]8.[/] Health dashboard written: {summary.dashboard}")
    _train(root, summary, say)
    if summary.waiting:
        say(f"[bold]10.[/] {summary.waiting} sets in {WAITING} wait for you: `curalog serve --root {root}`"
            + (" (each opens with the model's suggestion)" if summary.model else ""))  # fmt: skip
    return summary


def _train(root: Path, summary: DemoSummary, say: Callable[[str], None]) -> None:
    """The loop: the dataset built from the decisions, and a model trained on it."""
    from curalog.dataset import build
    from curalog.errors import CuralogError
    from curalog.training import train

    say("[bold]9.[/] Building the dataset and training the ranker and the box regressor on it")
    try:
        built = build(root)
        m = train(root, built.out).manifest
    except CuralogError as exc:  # too few decisions for held-out figures
        say(f"   no model: {exc}")
        return
    summary.model = m["id"]
    top1, iou = m["ranker"].get("top1_accuracy"), m["boxes"].get("mean_iou")
    if top1:
        lo, hi = top1["lift_ci"]
        say(f"   held out: the chosen stage ranked first {top1['model']:.0%} of the time "
            f"(a random pick: {top1['baseline']:.0%}; lift interval {lo:+.2f} to {hi:+.2f})")  # fmt: skip
    if iou:
        say(f"   held out: box IoU {iou['model']:.2f} (the centred box of the mean size: "
            f"{iou['baseline']:.2f}; the demo's boxes are drawn at random: no signal expected)")  # fmt: skip
    say(f"   model {m['id']} saved in data/models (in use)")


def _demo_folder(root: Path, fresh: bool) -> Path:
    """An empty folder for the demo: a folder that holds anything but an earlier demo is refused."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder; choose another place for the demo")
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise ConfigError(f"{root} exists and is not a curalog demo folder; choose another")
        if not fresh:
            raise ConfigError(f"{root} already holds a demo; pass --fresh to make it anew")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by `curalog demo`; safe to delete\n")
    return root


def _audit_images(proj: Project, sets: list[tuple[str, list[str]]]) -> None:
    by_folder: dict[str, list[str]] = {}
    for _, names in sets:
        for name in names:
            folder, _, file = name.rpartition("/")
            by_folder.setdefault(folder, []).append(file)
    for folder, files in sorted(by_folder.items()):
        proj.audit.record("create", files, dest_dir=folder, notes="demo images")


def _embed_and_decide(
    proj: Project, session: Session, sets: list[tuple[str, list[str]]], summary: DemoSummary,
    rng: random.Random, today: datetime, say: Callable[[str], None], progress: Progress | None,
) -> None:  # fmt: skip
    from curalog.monitor.health import take_snapshot

    say("[bold]3.[/] Embedding every image (built-in `thumbnail` embedder)")
    all_paths = [p for _, names in sets for p in names]
    result = proj.embed(all_paths, progress=progress, session_id=session.id)
    say(f"   {result.embedded} vectors written and verified, {len(result.failed)} failures")
    say(f"[bold]4.[/] Logging decisions through the ledger API, over {DAYS} simulated days")
    say("   (each day ends with the nightly `curalog check`: a health snapshot)")
    per_day = -(-len(sets) // DAYS)
    taste = random.Random(len(sets))
    for i, (set_id, names) in enumerate(sets):
        if i and i % per_day == 0:
            take_snapshot(proj, now=today - timedelta(days=DAYS - i // per_day))
        chosen = rng.randrange(len(names))
        if taste.random() < TASTE:  # the person mostly prefers stage2, the enhanced one (a model learns it)
            chosen = 1
        directory = names[0].rsplit("/", 1)[0]
        if i % 3 == 2:
            session.log_selection(set_id, directory, names, chosen, list(STAGES))
            summary.selections += 1
            continue
        facts = proj.facts.get(names[chosen])
        w, h = facts.width, facts.height
        x1, y1 = rng.randint(0, w // 3), rng.randint(0, h // 3)
        x2, y2 = rng.randint(x1 + w // 3, w), rng.randint(y1 + h // 3, h)
        session.log_crop(set_id, directory, names, chosen, (x1, y1, x2, y2), list(STAGES))
        summary.crops += 1
    # today's snapshot, a little before the nightly check, but never on the day before (a demo run
    # just after midnight would otherwise show one simulated day too many)
    local = today.astimezone()
    take_snapshot(
        proj, now=max(local - timedelta(minutes=5), local.replace(hour=0, minute=0, second=0, microsecond=0))
    )
    say(f"   {summary.selections} selections and {summary.crops} crops stored")
    say("[bold]5.[/] Trying the post-mortem's bad row (0x0 sizes, placeholder box):")
    set_id, names = sets[0]
    try:
        session.log_crop(
            set_id, names[0].rsplit("/", 1)[0], names, 1, (0.0, 0.0, 1.0, 1.0),
            list(STAGES), [(0, 0)] * len(names),
        )  # fmt: skip
    except DecisionRejected as exc:
        for p in exc.problems:
            summary.rejected.append(f"{p.code}: {p.message}")
            say(f"   [red]refused[/] {p.code}: {p.message}")


def _verify_and_lose_a_vector(proj: Project, summary: DemoSummary, say: Callable[[str], None]) -> None:
    report = proj.verify()
    summary.verify_ok = report.ok
    say(
        f"[bold]6.[/] Store verified: {report.index_entries} index entries, "
        f"{report.vector_files} vector files, "
        + ("[green]no problems[/]" if report.ok else f"[red]{len(report.errors)} errors[/]")
    )
    # The post-mortem's silent loss: a vector file deleted while the index still lists it.
    lost = next(d.chosen for d in proj.ledger.decisions() if d.kind == "crop")
    vector = proj.embeddings.directory / f"{lost.hash}.npy"
    vector.unlink()
    rel = vector.relative_to(proj.root).as_posix()
    proj.audit.record("delete", [vector.name], source_dir=rel.rpartition("/")[0],
                      notes="demo: simulates the post-mortem's lost embedding file")  # fmt: skip
    say(f"[bold]7.[/] Deleting the vector of {lost.path} (as in the post-mortem); the nightly check:")


def _nightly_checks(
    root: Path, summary: DemoSummary, today: datetime, say: Callable[[str], None]
) -> CheckResult:
    from curalog.monitor.nightly import check

    first = check(root, now=today)
    for alert in first.alerts.alerts:
        summary.alerts.append(alert.title)
        say(f"   [yellow]alert[/] {alert.title}")
    again = check(root, now=today + timedelta(minutes=1))
    summary.quiet_rerun = not again.alerts.alerts
    rerun = (
        "nothing new to announce (each problem is announced once)"
        if summary.quiet_rerun
        else f"[red]{len(again.alerts.alerts)} alerts again[/]"
    )
    say(f"   run again: {rerun}")
    return again
