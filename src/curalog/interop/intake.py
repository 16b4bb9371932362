"""What every import shares: each item of another tool's file is identified, admitted through the
ledger's checks and stored, refused (kept in the quarantine with its finding codes), or skipped
with its reason; the account reconciles (items = imported + already in the ledger + refused + skipped).

An item is identified by the sha256 of its JSON (its number in the file names it in the output):
importing the same file again, or a copy of it under another name, is a no-op, and an edited
item is a new one. A decision equal to one the ledger holds (within the format's rounding) is not
stored twice either.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from curalog.errors import ConfigError, CuralogError, DecisionRejected, DecisionWarning, PathError, shown
from curalog.ledger.admission import Admitted
from curalog.ledger.ledger import near
from curalog.ledger.provenance import LegacyLine, Provenance, imported_lines, quarantine, refusal
from curalog.progress import Progress as ProgressFn
from curalog.project import Project

UPLOAD = re.compile(r"^/data/upload/\d+/[0-9a-fA-F]{8}-(?P<name>.+)$")


class Refused(Exception):
    """An item that cannot be a decision, with the finding code that says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Skipped(Exception):
    """An item that is not a decision at all (cancelled, no choice made), with the reason."""


@dataclass
class Intake:
    path: Path
    dry_run: bool
    items: int = 0
    imported: int = 0
    already: int = 0  # in the ledger already (an earlier run, a copy of the file, the same decision)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (item number, why: codes)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (item number, why)
    warned: Counter = field(default_factory=Counter)  # finding code -> decisions taken with that warning

    @property
    def reconciles(self) -> bool:
        return self.items == self.imported + self.already + len(self.refused) + len(self.skipped)

    def skip_reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(why for _, why in self.skipped).items()))


def load_json(path: Path, what: str) -> Any:
    """The JSON document of a regular file (a FIFO or a device is never opened: it could block)."""
    if not path.is_file():
        why = "no such file" if not path.exists() else "not a regular file"
        raise ConfigError(f"cannot read the {what} file {shown(path)}: {why}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, UTF-8, a 5,000-digit number
        raise ConfigError(f"cannot read the {what} file {shown(path)}: {shown(exc)}") from exc


def file_label(path: Path) -> str:
    """The file's name as text that any database takes (bytes that are not UTF-8 escaped)."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def hashes_to_paths(project: Project) -> dict[str, list[str]]:
    """content sha256 -> the index's paths for it, read once per import."""
    by_hash: dict[str, list[str]] = {}
    for indexed, digest in project.embeddings.index_pairs():
        by_hash.setdefault(digest or "", []).append(indexed)
    return by_hash


def local_path(url: str) -> str:
    """The path an image URL written by a labeling tool points at: Label Studio's
    ``/data/upload/<n>/<hash>-`` (the file name is what is left), ``/data/local-files/?d=``
    (URL-decoded), a host (``http(s)://…``) or a bucket (``s3://``, ``gs://``, ``azure-blob://``:
    made absolute, so the path rule strips what is not the project's) taken off."""
    text = url.strip()
    parts = urlsplit(text)
    web = parts.scheme in ("http", "https") and bool(parts.netloc)
    if web:
        text = parts.path + (f"?{parts.query}" if parts.query else "")
    elif parts.scheme in ("s3", "gs", "azure-blob") and parts.netloc:
        return "/" + unquote(parts.path.lstrip("/"))  # absolute: the resolver strips what is not ours
    for marker in ("/data/local-files/?d=", "/data/local-files?d="):
        if text.startswith(marker):
            return unquote(text[len(marker) :].split("&", 1)[0])
    if web:
        text = unquote(parts.path)  # a URL's path is URL-encoded; a path written as text is not
    upload = UPLOAD.match(unquote(text))
    return upload.group("name") if upload else text


def located(project: Project, text: str) -> str:
    """The canonical path for ``text`` if it names one exactly (or after another machine's
    prefix), else ``text`` as it is: admission then tries the file name and says what it found."""
    for attempt in (text, "/" + text.lstrip("/")):
        try:
            return project.paths.resolve(attempt, by_name=False).canonical
        except (PathError, OSError, ValueError):
            continue
    return text


def settled(admitted: Admitted, *, folder: bool = True) -> Admitted:
    """``admitted`` with its folder the chosen image's own (``folder``): a foreign file's path as
    written (another machine's, a URL) never becomes the decision's folder."""
    return replace(admitted, directory=admitted.chosen.path.rpartition("/")[0]) if folder else admitted


def matched(project: Project, named: str, digest: object, by_hash: dict[str, list[str]]) -> str:
    """The project path of an image a file names as ``named`` (a URL's prefixes already taken
    off) with the curalog sha256 ``digest``: the named path itself when it resolves and holds that
    content (two copies of one image stay apart), else where the index says the content is, else
    the named path (admission then tries the file name and says what it found)."""
    here = located(project, named)
    if isinstance(digest, str) and digest and (project.root / here).is_file():
        try:
            if project.facts.get(here, defer=True).sha256 == digest:
                return here
        except (CuralogError, OSError, ValueError):
            pass
    return by_content(project, digest, by_hash) or here


def by_content(project: Project, digest: object, by_hash: dict[str, list[str]]) -> str | None:
    """The project path that holds the content ``digest`` (the index knows where), if on disk."""
    for path in by_hash.get(digest, []) if isinstance(digest, str) else []:
        if (project.root / path).is_file():
            return path
    return None


class Importer:
    """One import run over one file (see the module): within ``run()``, ``take`` each item."""

    def __init__(self, project: Project, path: Path, *, dry_run: bool, tool: str, tolerance: float,
                 total: int = 0, progress: ProgressFn | None = None) -> None:  # fmt: skip
        """``tolerance``: how far (pixels) a box may be from a decision the ledger holds and
        still be that decision: the format's own rounding (0.5 for whole pixels). ``progress(done,
        total, "annotations")`` follows the ``total`` items."""
        self.project, self.result = project, Intake(path, dry_run)
        self.done = {sha for _source, _line, sha in imported_lines(project.db)}  # any file, any name
        self.name = file_label(path)
        self.session = f"{tool.lower().replace(' ', '')}:{self.name}"
        self.tool = tool
        self.tolerance = tolerance
        self.admitted: dict[tuple, list] = {}  # decisions taken in this run (a dry run stores none)
        self.total, self.progress = total, progress

    @contextmanager
    def run(self) -> Iterator[Importer]:
        if not self.result.dry_run:
            self.project.ledger.start_session(f"{self.tool} import ({self.name})", self.session)
        try:
            yield self
        finally:
            if not self.result.dry_run:
                self.project.ledger.end_session(self.session)

    def line(self, number: int, item: object) -> tuple[LegacyLine, str]:
        text = json.dumps(item, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return LegacyLine(self.name, number, digest), text

    def take(self, number: int, item: object, kind: str, propose) -> None:
        """Count item ``number``; ``propose()`` returns the ``Admitted`` decision or raises
        ``Refused``, ``DecisionRejected`` or ``Skipped``. An item already taken in (from this
        file, a copy of it under another name, or earlier in this one) or a decision the ledger
        already holds (an export of this ledger coming back) counts as ``already``."""
        result = self.result
        result.items += 1
        if self.progress and (result.items % 256 == 0 or result.items == self.total):
            self.progress(result.items, self.total, "annotations")
        line, text = self.line(number, item)
        if line.sha in self.done:
            result.already += 1
            return
        try:
            with warnings.catch_warnings(record=True) as caught:  # counted, not printed per decision
                warnings.simplefilter("always", DecisionWarning)
                admitted: Admitted = propose()
        except Skipped as exc:
            result.skipped.append((number, str(exc)))
            return
        except Refused as exc:
            self._refuse(line, kind, [(exc.code, exc.message)], text)
            return
        except DecisionRejected as exc:
            self._refuse(line, kind, [(p.code, p.message) for p in exc.problems], text)
            return
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # a shape not
            # foreseen (caught after DecisionRejected, itself a ValueError)
            self._refuse(line, kind, [("row.malformed", f"cannot be read: {shown(exc)}")], text)
            return
        self.done.add(line.sha)
        if self._seen(admitted) or self.project.ledger.same_decision(admitted, self.tolerance) is not None:
            result.already += 1
            return
        if not result.dry_run:
            with warnings.catch_warnings(record=True) as stored:
                warnings.simplefilter("always", DecisionWarning)
                self.project.ledger.store(self.session, admitted, provenance=Provenance(line))
            caught += stored
        result.imported += 1
        for w in caught:
            if issubclass(w.category, DecisionWarning):
                result.warned[str(w.message).split(":", 1)[0]] += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _seen(self, admitted: Admitted) -> bool:
        """Whether this run already took the same decision (its box within the tolerance), and
        remember this one: a dry run, which stores nothing, counts as the real run does."""
        key = (admitted.kind, admitted.set_id, admitted.directory, admitted.chosen.hash)
        boxes = self.admitted.setdefault(key, [])
        if any(near(b, admitted.box, self.tolerance) for b in boxes):
            return True
        boxes.append(admitted.box)
        return False

    def _refuse(self, line: LegacyLine, kind: str, problems: list[tuple[str, str]], raw: str) -> None:
        codes, message = refusal(problems)
        self.result.refused.append((line.line, message))
        if not self.result.dry_run:
            quarantine(self.project.db, line, kind, codes, message, raw)


def json_number(value: object) -> bool:
    """A JSON number (not a boolean, which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def number_of(item: dict[str, Any], n: int) -> int:
    """An item's number: its own positive integer id, else its position in the file."""
    own = item.get("id")
    return own if isinstance(own, int) and not isinstance(own, bool) and 0 < own < 2**63 else n
