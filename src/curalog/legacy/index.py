"""Reading the legacy embedding index (``processed_images.jsonl``, docs/legacy-formats.md):
one ``IndexLine`` per good line, a ``Malformed`` record naming every other line. Read-only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

from curalog.legacy.logs import LogRead, Malformed, log_read
from curalog.paths import utf8

_HASH = re.compile(r"^[0-9a-f]{64}$")
# The shape the legacy tools wrote, with plain strings only: a line that matches is valid JSON
# with exactly these values, so it is read without the JSON parser (any other line is parsed).
_INDEX_LINE = re.compile(
    r'^\{"image_path": "([^"\\\x00-\x1f]+)", "hash": "([0-9a-f]{64})", "embedding_dim": ([1-9][0-9]*)'
    r'(?:, "model": "([^"\\\x00-\x1f]*)")?(?:, "timestamp": "[^"\\\x00-\x1f]*")?\}[ \t\r]*$'
)  # JSON's white space only after the object: a line ending in U+2003 is not JSON


class IndexLine(NamedTuple):
    source: str
    line: int
    image_path: str
    hash: str
    dim: int | None
    model: str


def read_index(path: Path, source: str) -> LogRead:
    """The legacy embedding index (processed_images.jsonl), one ``IndexLine`` per good line."""
    read = log_read(path, source)
    if not read.exists:
        return read
    with open(path, encoding="utf-8", errors="replace") as fh:  # lines as iterating the file gives
        lines = fh.read().removeprefix("\ufeff").split("\n")  # a byte-order mark is not JSON
    if lines[-1] == "":
        lines.pop()
    rows = read.rows
    # one object per distinct dimension and model: an index holds few, and hundreds of thousands
    # of lines (tens of MB at ten times the seed)
    dims: dict[str, int] = {}
    models: dict[str, str] = {}
    for n, (text, fast) in enumerate(zip(lines, map(_INDEX_LINE.match, lines), strict=True), start=1):
        if fast is not None:
            image_path, digest, dim, model = fast.groups()
            image_path = image_path.strip()
            if image_path:
                read.data_lines += 1
                number = dims.get(dim)
                if number is None:
                    number = dims[dim] = int(dim)
                model = models.setdefault(model, model) if model else ""
                rows.append(IndexLine(source, n, image_path, digest, number, model))
                continue
        if not text.strip():
            continue
        read.data_lines += 1
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            read.malformed.append(Malformed(source, n, f"invalid JSON ({exc.msg})"))
            continue
        except RecursionError:
            read.malformed.append(Malformed(source, n, "JSON nested too deeply to be an index line"))
            continue
        if not isinstance(obj, dict):
            read.malformed.append(Malformed(source, n, "not a JSON object"))
            continue
        image_path, digest, dim = obj.get("image_path"), obj.get("hash"), obj.get("embedding_dim")
        problems = []
        if not isinstance(image_path, str) or not image_path.strip():
            problems.append("image_path missing")
        elif not utf8(image_path):
            problems.append("image_path holds an unpaired surrogate escape (\\ud800...): not a file name")
        if not isinstance(digest, str) or not _HASH.match(digest):
            problems.append("hash is not 64 lowercase hex digits")
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0):
            problems.append(f"embedding_dim {dim!r} is not a positive whole number")
        if problems:
            read.malformed.append(Malformed(source, n, "; ".join(problems)))
            continue
        read.rows.append(
            IndexLine(source, n, str(image_path).strip(), str(digest), dim, str(obj.get("model", "")))
        )
    return read
