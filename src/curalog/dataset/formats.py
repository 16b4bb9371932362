"""A built dataset's crops in other tools' formats (``dataset build --format coco,labelstudio,
fiftyone``), written beside the Parquet set, each in a subfolder of its own (``FORMAT_FILES``).

The items are the dataset's crops: exactly the crops in ``crops.parquet``, each placed in pixels of
its chosen image as seen (EXIF orientation applied; the normalized box times the measured size).
A crop whose image is not on disk any more (its vector is, so it can train) cannot be shown by
these tools: it is left out and counted with that reason. Selections are the ranker pairs in
``pairs.parquet``; they are not in these formats. The manifest's ``formats`` section holds each
format's account: crops read = written + left out, every left-out decision with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from curalog.dataset.folder import FORMAT_FILES
from curalog.errors import ConfigError
from curalog.interop.items import Exported, Item
from curalog.ledger.admission import Candidate

NOT_ON_DISK = "the chosen image is not on disk (only its vector is)"


def parse_formats(raw: list[str] | None) -> list[str]:
    """``--format`` values (repeated or comma-separated) checked against what curalog writes;
    every unknown one named at once."""
    names = [n.strip().lower() for text in raw or [] for n in text.split(",") if n.strip()]
    if raw and not names:
        raise ConfigError(
            f"--format {', '.join(map(repr, raw))} names no format; choose from {', '.join(FORMAT_FILES)}"
        )
    unknown = sorted({n for n in names if n not in FORMAT_FILES})
    if unknown:
        raise ConfigError(f"--format {', '.join(unknown)}: unknown; choose from {', '.join(FORMAT_FILES)}")
    return list(dict.fromkeys(names))


def crop_items(crops: Any, size_of: Callable[[str], tuple[int, int] | None]) -> tuple[list[Item], list]:
    """The crops table as items in pixels, and (decision, why) for each crop that cannot be one."""
    items, missing = [], []
    cols = crops.select(
        ["decision", "set_id", "chosen_path", "chosen_hash", "x1", "y1", "x2", "y2"]
    ).to_pydict()
    for ref, set_id, path, digest, x1, y1, x2, y2 in zip(*cols.values(), strict=True):
        size = size_of(path)
        if size is None:
            missing.append((ref, NOT_ON_DISK))
            continue
        w, h = size
        chosen = Candidate(0, path, digest, None, w, h)
        # to 1e-6 px: 500.5 / 600 * 600 is 500.49999999999994, which would round down to the pixel
        box = (round(x1 * w, 6), round(y1 * h, 6), round(x2 * w, 6), round(y2 * h, 6))
        items.append(Item(ref, "crop", set_id, path.rpartition("/")[0], 0, (chosen,), box))
    return items, missing


def format_files(formats: list[str], crops: Any, size_of: Callable[[str], tuple[int, int] | None],
                 root: Path) -> tuple[dict[str, str], dict[str, Any]]:  # fmt: skip
    """Each format's files (path in the dataset folder -> text) and its account for the manifest."""
    from curalog.interop.coco import coco_document, coco_text
    from curalog.interop.fiftyone import fiftyone_files
    from curalog.interop.labelstudio import labelstudio_files

    items, missing = crop_items(crops, size_of) if formats else ([], [])
    files: dict[str, str] = {}
    accounts: dict[str, Any] = {}
    for fmt in formats:
        result = Exported(Path(fmt), fmt)
        if fmt == "coco":
            written = {"annotations.json": coco_text(coco_document(items, result))}
        elif fmt == "labelstudio":
            written = labelstudio_files(items, result)
        else:
            written = fiftyone_files(items, result, root)
        result.decisions += len(missing)
        result.left_out.extend(missing)
        result.check()
        assert sorted(written) == sorted(FORMAT_FILES[fmt]), (fmt, sorted(written))
        files.update({f"{fmt}/{name}": text for name, text in written.items()})
        account = result.summary()
        account.pop("path")
        account["files"] = [f"{fmt}/{name}" for name in FORMAT_FILES[fmt]]
        accounts[fmt] = account
    return files, accounts
