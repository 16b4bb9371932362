"""The seed's "data collection smoke test", end to end in a temp folder.

Users run ``curalog selftest`` after changing their own collection scripts: it makes images,
logs a crop through the real API, reads it back, and checks that a bad crop is refused and
leaves nothing behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from curalog.errors import DecisionRejected


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def run_selftest(say: Callable[[Check], None] | None = None) -> list[Check]:
    from curalog.project import init_project, open_project

    checks: list[Check] = []

    def check(name: str, passed: bool, detail: str) -> None:
        c = Check(name, bool(passed), detail)
        checks.append(c)
        if say:
            say(c)

    with tempfile.TemporaryDirectory(prefix="curalog-selftest-") as tmp:
        root = Path(tmp)
        folder = root / "selftest" / "selected"
        folder.mkdir(parents=True)
        names = []
        for i, colour in enumerate(["#c0392b", "#27ae60"]):
            name = f"img_stage{i + 1}.png"
            Image.new("RGB", (1920, 1080), colour).save(folder / name)
            names.append(f"selftest/selected/{name}")
        init_project(root)
        with open_project(root, tool="selftest") as proj:
            result = proj.embed(names)
            check("embed test images", result.ok, f"{result.embedded} vectors written, verified")
            with proj.session(tool="selftest") as s:
                did = s.log_crop(
                    "test_set", "selftest/selected", names, 0, (100, 100, 800, 800),
                    image_stages=["stage1", "stage2"], image_sizes=[(1920, 1080), (1920, 1080)],
                )  # fmt: skip
                d = proj.ledger.decision(did)
                check(
                    "width and height logged",
                    (d.chosen.width, d.chosen.height) == (1920, 1080),
                    f"{d.chosen.width}x{d.chosen.height}",
                )
                check(
                    "crop box logged in pixels",
                    d.box == (100.0, 100.0, 800.0, 800.0),
                    f"{d.box}",
                )
                check(
                    "crop box normalized",
                    d.box_normalized is not None
                    and abs(d.box_normalized[2] - 800 / 1920) < 1e-12
                    and abs(d.box_normalized[3] - 800 / 1080) < 1e-12,
                    f"{d.box_normalized}",
                )
                before = proj.ledger.count()
                try:
                    s.log_crop(
                        "bad_set", "selftest/selected", names, 0, (0.0, 0.0, 1.0, 1.0),
                        image_sizes=[(0, 0), (1920, 1080)],
                    )  # fmt: skip
                except DecisionRejected as exc:
                    codes = sorted({p.code for p in exc.problems})
                    check(
                        "bad crop (0x0 size, placeholder box) refused",
                        {"crop.zero_dimensions", "crop.placeholder"} <= set(codes),
                        ", ".join(codes),
                    )
                else:
                    check("bad crop (0x0 size, placeholder box) refused", False, "it was stored")
                check(
                    "refused crop left nothing",
                    proj.ledger.count() == before,
                    f"{proj.ledger.count()} decisions (was {before})",
                )
            report = proj.verify()
            check("store verifies", report.ok, f"{report.index_entries} index entries")
    return checks
