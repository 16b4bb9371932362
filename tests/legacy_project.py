"""A small legacy project (docs/legacy-formats.md) with one planted defect of each finding code.

``build(root)`` writes images, both CSV logs, the JSONL index and the vector files, and returns
the findings it planted as ``(code, source, line)`` plus the usable counts.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SEL = "data/training/selection_only_log.csv"
CROP = "data/training/select_crop_log.csv"
INDEX = "data/ai_data/cache/processed_images.jsonl"
EMB = "data/ai_data/cache/embeddings"
DIM = 8
SEL_HEADER = ["timestamp", "session_id", "set_id", "directory", "chosen_path", "negative_paths"]
CROP_HEADER = [
    "timestamp", "session_id", "set_id", "directory", "image_count", "chosen_index", "chosen_path",
    "crop_x1", "crop_y1", "crop_x2", "crop_y2",
] + [f"{k}_{i}" for i in range(4) for k in ("image", "image_stage", "width", "height")]  # fmt: skip
CROP_HEADER = CROP_HEADER[:11] + [
    c for i in range(4) for c in (f"image_{i}_path", f"image_{i}_stage", f"width_{i}", f"height_{i}")
]
OTHER_MACHINE = "/Users/someone/projects/curation"
OTHER_MACHINE_B = "/home/other/work/curation"


@dataclass
class Planted:
    findings: set[tuple[str, str, int | None]] = field(default_factory=set)
    usable_selections: int = 0
    usable_crops: int = 0
    selections: int = 0
    crops: int = 0


class Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.sel_rows: list[list[str] | str] = []
        self.crop_rows: list[list[str] | str] = []
        self.index_lines: list[str] = []
        self.planted = Planted()
        self.colour = 0
        (root / EMB).mkdir(parents=True)

    def image(self, rel: str, size: tuple[int, int] = (64, 48), exif_orientation: int | None = None) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self.colour += 1
        im = Image.new("RGB", size, (self.colour * 7 % 256, self.colour * 13 % 256, 90))
        if exif_orientation:
            exif = Image.Exif()
            exif[0x0112] = exif_orientation
            im.save(path, exif=exif.tobytes())
        else:
            im.save(path)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def vector(self, digest: str, values: np.ndarray | None = None) -> None:
        vec = values if values is not None else np.arange(1, DIM + 1, dtype=np.float32) + self.colour
        np.save(self.root / EMB / f"{digest}.npy", vec)

    def index(self, image_path: str, digest: str, dim: int = DIM) -> int:
        self.index_lines.append(json.dumps({"image_path": image_path, "hash": digest, "embedding_dim": dim,
                                            "model": "openai/clip-vit-base-patch32"}))  # fmt: skip
        return len(self.index_lines)

    def embedded(self, rel: str, index_as: str | None = None, **kw) -> str:
        digest = self.image(rel, **kw)
        self.vector(digest)
        self.index(index_as or rel, digest)
        return digest

    def sel(self, row: list[str] | str) -> int:
        self.sel_rows.append(row)
        return len(self.sel_rows) + 1  # header is line 1

    def crop(self, chosen: str, box: tuple, sizes: tuple = (64, 48), directory: str = "mojo1/crop",
             set_id: str = "c", raw: str | None = None) -> int:  # fmt: skip
        row = ["2025-10-02T14:03:11", "20251002_140233", set_id, directory, "1", "0", chosen,
               *(str(v) for v in box), chosen, "stage2", str(sizes[0]), str(sizes[1])]  # fmt: skip
        row += [""] * (len(CROP_HEADER) - len(row))
        self.crop_rows.append(raw if raw is not None else row)
        return len(self.crop_rows) + 1

    def write(self) -> None:
        for rel, header, rows in ((SEL, SEL_HEADER, self.sel_rows), (CROP, CROP_HEADER, self.crop_rows)):
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as fh:
                fh.write(",".join(header) + "\n")
                for row in rows:
                    if isinstance(row, str):
                        fh.write(row + "\n")
                    else:
                        csv.writer(fh, lineterminator="\n").writerow(row)
        (self.root / INDEX).write_text("\n".join(self.index_lines) + "\n", encoding="utf-8")


def selection(
    chosen: str, directory: str = "mojo1/selected", set_id: str = "s", negatives: str = "[]"
) -> list[str]:
    return ["2025-10-02T14:03:11", "20251002_140233", set_id, directory, chosen, negatives]


def build(root: Path) -> Planted:
    b = Builder(root)
    p = b.planted
    add = p.findings.add

    # --- selections: clean rows in every path convention --------------------------------
    b.embedded("mojo1/selected/a_stage1.png")
    b.embedded("mojo1/selected/b_stage1.png", index_as=f"{OTHER_MACHINE}/mojo1/selected/b_stage1.png")
    b.embedded("mojo1/selected/c_stage1.png")
    b.embedded("mojo1/archive/unique_name.png")
    first = b.sel(selection("mojo1/selected/a_stage1.png", set_id="s1",
                            negatives='["mojo1/selected/a_stage2.png"]'))  # fmt: skip
    b.sel(selection(f"{OTHER_MACHINE}/mojo1/selected/b_stage1.png", set_id="s2"))
    b.sel(selection("c_stage1.png", set_id="s3"))
    b.sel(selection("old/layout/unique_name.png", set_id="s4"))
    p.usable_selections += 4
    # --- selection defects ----------------------------------------------------------------
    add(("row.malformed", SEL, b.sel("2025-10-02T14:03:11,20251002_140233,s5,mojo1/selected")))
    add(("row.malformed", SEL, b.sel(selection("mojo1/selected/a_stage1.png", negatives="[not json"))))
    add(("path.unresolved", SEL, b.sel(selection("mojo1/selected/ghost.png", set_id="s6"))))
    b.embedded("mojo1/a/dup.png")
    b.embedded("mojo2/b/dup.png")
    add(("path.ambiguous", SEL, b.sel(selection("somewhere/dup.png", set_id="s7"))))
    b.image("mojo1/selected/never_embedded.png")
    add(("decision.no_embedding", SEL, b.sel(selection("mojo1/selected/never_embedded.png", set_id="s8"))))
    p.usable_selections += 0
    add(("row.duplicate", SEL, b.sel(selection("mojo1/selected/a_stage1.png", set_id="s1",
                                               negatives='["mojo1/selected/a_stage2.png"]'))))  # fmt: skip
    assert first == 2
    lost = hashlib.sha256(b"bytes of an image deleted since").hexdigest()
    b.vector(lost)
    b.index("mojo2/gone/lost.png", lost)
    add(("image.missing", SEL, b.sel(selection("mojo2/gone/lost.png", directory="mojo2/gone", set_id="s9"))))
    p.usable_selections += 1  # image.missing is a warning; the vector is sound

    # --- crops: clean ---------------------------------------------------------------------
    b.embedded("mojo1/crop/clean_px.png")
    b.embedded("mojo1/crop/clean_norm.png")
    b.embedded("mojo1/crop/rotated.jpg", size=(48, 64), exif_orientation=6)  # seen as 64x48
    b.crop("mojo1/crop/clean_px.png", (4, 5, 60, 40), set_id="k1")
    b.crop("clean_norm.png", (0.1, 0.2, 0.5, 0.6), set_id="k2")
    b.crop(f"{OTHER_MACHINE}/mojo1/crop/rotated.jpg", (1, 1, 63, 47), sizes=(64, 48), set_id="k3")
    p.usable_crops += 3
    # --- crop defects -----------------------------------------------------------------------
    for name in ("zero", "placeholder", "inverted", "outside", "mismatch"):
        b.embedded(f"mojo2/crop/{name}.png")
    add(
        (
            "crop.zero_dimensions",
            CROP,
            b.crop("mojo2/crop/zero.png", (10, 10, 1787, 900), sizes=(0, 0), set_id="k4"),
        )
    )
    add(("crop.placeholder", CROP, b.crop("mojo2/crop/placeholder.png", (0.0, 0.0, 1.0, 1.0), set_id="k5")))
    add(("crop.invalid_box", CROP, b.crop("mojo2/crop/inverted.png", (50, 10, 20, 30), set_id="k6")))
    add(("crop.out_of_bounds", CROP, b.crop("mojo2/crop/outside.png", (10, 10, 100, 30), set_id="k7")))
    add(("crop.dimension_mismatch", CROP,
         b.crop("mojo2/crop/mismatch.png", (10, 10, 600, 400), sizes=(640, 480), set_id="k8")))  # fmt: skip
    p.usable_crops += 1  # a size mismatch is a warning
    gone = b.image("mojo2/crop/vector_gone.png")
    gone_line = b.index("mojo2/crop/vector_gone.png", gone)
    add(("embedding.file_missing", INDEX, gone_line))
    add(("decision.no_embedding", CROP, b.crop("mojo2/crop/vector_gone.png", (1, 1, 30, 30), set_id="k9")))
    bad = b.image("mojo2/crop/vector_nan.png")
    b.vector(bad, np.full(DIM, np.nan, np.float32))
    b.index("mojo2/crop/vector_nan.png", bad)
    add(("embedding.corrupt", EMB, None))
    add(("decision.no_embedding", CROP, b.crop("mojo2/crop/vector_nan.png", (1, 1, 30, 30), set_id="k10")))
    row = b.crop("mojo1/crop/clean_px.png", (4, 5, 60, 40), set_id="k11")
    b.crop_rows[-1][7] = "abc"  # text where a number belongs
    add(("row.malformed", CROP, row))
    # --- the seed's path drift, each convention of docs/legacy-formats.md in the index too ------
    # index path = project folder + file name, without the subfolder the image lives in
    b.embedded("mojo2/selected/img_0049_stage0.png", index_as="mojo2/img_0049_stage0.png")
    b.sel(selection(f"{OTHER_MACHINE}/mojo2/selected/img_0049_stage0.png", set_id="d1"))
    b.embedded("mojo2/selected/img_0050_stage0.png", index_as=f"{OTHER_MACHINE_B}/mojo2/img_0050_stage0.png")
    b.sel(selection("img_0050_stage0.png", directory=f"{OTHER_MACHINE_B}/mojo2/selected", set_id="d2"))
    # the same file name in selected/ and crop/ (the cropped output): the content hash decides
    b.embedded("mojo1/selected/shared.png", index_as="mojo1/shared.png")
    b.embedded("mojo1/crop/shared.png")
    b.sel(selection("mojo1/selected/shared.png", set_id="d3"))
    b.crop(
        f"{OTHER_MACHINE}/mojo1/shared.png", (2, 2, 30, 30), directory="mojo1", set_id="d4"
    )  # via the index
    add(("path.ambiguous", SEL, b.sel(selection("elsewhere/shared.png", set_id="d5"))))
    # a file name shared across two projects, the index written as a bare name
    b.image("mojo1/selected/cross.png")
    b.embedded("mojo2/selected/cross.png", index_as="cross.png")
    b.sel(selection("mojo2/selected/cross.png", directory="mojo2/selected", set_id="d6"))
    add(("decision.no_embedding", SEL, b.sel(selection("mojo1/selected/cross.png", set_id="d7"))))
    # a moved image: the index and the row name the old folder, the same bytes live elsewhere
    b.embedded("mojo3/new/moved.png", index_as="mojo3/old/moved.png")
    b.sel(selection("mojo3/old/moved.png", directory="mojo3/old", set_id="d8"))
    # Windows separators in the index and the row
    b.embedded("mojo1/selected/win.png", index_as="C:\\Users\\x\\curation\\mojo1\\selected\\win.png")
    b.crop("C:\\Users\\x\\curation\\mojo1\\selected\\win.png", (1, 1, 40, 40), set_id="d9")
    p.usable_selections += 5
    p.usable_crops += 2
    # drift combined with defects
    b.embedded("mojo2/crop/drift_zero.png", index_as="mojo2/drift_zero.png")
    zero_at = b.crop(f"{OTHER_MACHINE}/mojo2/crop/drift_zero.png", (1, 1, 30, 30), sizes=(0, 0), set_id="d10")
    add(("crop.zero_dimensions", CROP, zero_at))
    drift_gone = b.image("mojo2/crop/drift_vector_gone.png")
    add(("embedding.file_missing", INDEX, b.index("mojo2/drift_vector_gone.png", drift_gone)))
    add(("decision.no_embedding", CROP, b.crop("drift_vector_gone.png", (1, 1, 30, 30), set_id="d11")))
    lost2 = hashlib.sha256(b"another image deleted since").hexdigest()
    b.vector(lost2)
    b.index(f"{OTHER_MACHINE}/mojo3/lost2.png", lost2)  # image gone: kept as written from the project
    add(("image.missing", SEL, b.sel(selection("mojo3/lost2.png", directory="mojo3", set_id="d12"))))
    p.usable_selections += 1  # image.missing is a warning; the vector is sound
    # --- the index and the vector files ---------------------------------------------------------
    b.index_lines.append("{not json")
    add(("row.malformed", INDEX, len(b.index_lines)))
    b.vector(hashlib.sha256(b"nobody names me").hexdigest())
    add(("embedding.orphan_file", EMB, None))
    b.write()
    p.selections = len(b.sel_rows)
    p.crops = len(b.crop_rows)
    return p
