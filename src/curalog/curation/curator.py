"""The Curator: one person's curation run over a project: the queue, decisions, skips, undo and
the optional moves of chosen and rejected files (see the package docstring)."""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from curalog.curation.sets import TRASH, ImageSet, find_sets
from curalog.curation.suggestions import Suggestion, answered, suggest
from curalog.errors import CuralogError, DecisionRejected, DecisionWarning, ImageError, Problem, shown
from curalog.images import image_size
from curalog.ledger.checks import finite
from curalog.ledger.ledger import AlreadyDecided
from curalog.paths import project_of
from curalog.project import Project
from curalog.training.model import MODELS_DIR, Model, active_model


@dataclass
class Outcome:
    """What a decision did: the ledger id, warnings, and the files moved (from, to)."""

    decision_id: int
    kind: str
    set_key: str
    box_pixels: tuple[int, int, int, int] | None
    warnings: list[str] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    not_moved: list[str] = field(default_factory=list)
    suggestion: str = ""  # what the person did with the suggestion shown ("": none shown)


@dataclass
class Summary:
    started: float
    selections: int = 0
    crops: int = 0
    rejections: int = 0
    skipped: int = 0
    undone: int = 0

    @property
    def decisions(self) -> int:
        return self.selections + self.crops

    def per_hour(self, now: float) -> float:
        hours = max(now - self.started, 60.0) / 3600
        return self.decisions / hours


def box_to_pixels(box: object, width: int, height: int) -> tuple[int, int, int, int]:
    """A box normalized to the image as seen (x1, y1, x2, y2 in [0, 1]) in whole pixels of its
    real size. Raises DecisionRejected naming what is wrong with the box."""
    if not isinstance(box, Sequence) or isinstance(box, str) or len(box) != 4:
        raise DecisionRejected([Problem("crop.invalid_box", f"the box {box!r} must be four numbers")])
    values = [finite(v) for v in box]
    if any(v is None for v in values):
        raise DecisionRejected(
            [Problem("crop.invalid_box", f"the box {shown(tuple(box))} must be finite numbers")]
        )
    x1, y1, x2, y2 = values  # type: ignore[misc]
    if not all(0.0 <= v <= 1.0 for v in (x1, y1, x2, y2)):
        raise DecisionRejected([Problem(
            "crop.out_of_bounds",
            f"the box {shown(tuple(box))} reaches outside the image: its values are in [0, 1]",
        )])  # fmt: skip
    px = (round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height))
    if px[2] - px[0] < 2 or px[3] - px[1] < 2:
        raise DecisionRejected([Problem(
            "crop.invalid_box",
            f"the box is {px[2] - px[0]}x{px[3] - px[1]} pixels of a {width}x{height} image; "
            "draw a box at least 2 pixels wide and high",
        )])  # fmt: skip
    return px


class Curator:
    """One person's curation run over a project: the queue, decisions, skips and undo."""

    def __init__(
        self, project: Project, *, tool: str = "curalog serve", move_files: bool | None = None
    ) -> None:
        self.project = project
        self.settings = project.config.curate
        self.move_files = self.settings.move_files if move_files is None else move_files
        self.lock = threading.RLock()
        self.session = project.ledger.start_session(tool)
        self.summary = Summary(started=time.time())
        self._embedder = None
        self._pool: ThreadPoolExecutor | None = None
        self._history: list[tuple[str, str, Outcome | None]] = []  # ("decision"|"skip", key, outcome)
        self.skipped: list[str] = []
        self.model: Model | None = None  # the model in use (``curalog train``), read by rescan
        self.model_note = ""  # why there is none, when one was trained
        self.suggested: dict[str, Suggestion] = {}  # set key -> the suggestion sent for it
        self.rescan()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self.lock:
            self.project.ledger.end_session(self.session.id)

    def prepare(self, key: str) -> Future[None] | None:
        """Embed the set's images in the background (one worker thread), so that the save finds
        them embedded. The web app calls it when a set is shown or prefetched. A failure is left
        for the save to report with its reason."""
        if key not in self.by_key or key in self.done:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="curalog-embed")
        return self._pool.submit(self._prepare, key)

    def _prepare(self, key: str) -> None:
        with self.lock:
            s = self.by_key.get(key)
            if s is not None and key not in self.done:
                self._embed_missing(s)

    # -- the queue ----------------------------------------------------------------------------
    def rescan(self) -> None:
        """Read the folders again (new images, moved files), the ledger's live decisions and
        which model is in use."""
        with self.lock:
            try:
                self.model, self.model_note = active_model(self.project.root / MODELS_DIR), ""
            except CuralogError as exc:  # a model folder damaged: curation goes on without suggestions
                self.model, self.model_note = None, str(exc)
            self.suggested.clear()
            self.sets, self.unmatched = find_sets(self.project.root, self.settings.set_pattern)
            self.by_key = {s.key: s for s in self.sets}
            decided = {
                (project_of(path), path.rpartition("/")[2]): id_
                for path, id_ in self.project.ledger.candidate_paths()
            }
            self.done: dict[str, int] = {}
            for s in self.sets:
                for p in s.paths + s.hidden:
                    found = decided.get((s.project, p.rpartition("/")[2]))
                    if found is not None:
                        self.done[s.key] = max(found, self.done.get(s.key, 0))

    def status(self, key: str) -> str:
        if key in self.done:
            return "done"
        return "skipped" if key in self.skipped else "left"

    def queue(self, project: str | None = None) -> list[ImageSet]:
        """Sets still to decide, in order; the ones skipped in this run come last."""
        with self.lock:
            left = [
                s for s in self.sets if s.key not in self.done and (project is None or s.project == project)
            ]
            skipped = set(self.skipped)
            order = {k: i for i, k in enumerate(self.skipped)}
            return [s for s in left if s.key not in skipped] + sorted(
                (s for s in left if s.key in skipped), key=lambda s: order[s.key]
            )

    def projects(self) -> list[str]:
        return sorted({s.project for s in self.sets})

    def next_set(self, project: str | None = None) -> ImageSet | None:
        left = self.queue(project)
        return left[0] if left else None

    def get(self, key: str) -> ImageSet:
        found = self.by_key.get(key)
        if found is None:
            raise KeyError(f"no set {key!r} in this project")
        return found

    def sizes(self, s: ImageSet) -> list[tuple[int, int] | None]:
        """Each variant's real size (EXIF orientation applied), or None if it cannot be read."""
        out: list[tuple[int, int] | None] = []
        for p in s.paths:
            try:
                out.append(image_size(self.project.root / p))
            except ImageError:
                out.append(None)
        return out

    def suggest(self, key: str) -> Suggestion | str:
        """The model's suggestion for the set (its images embedded first if need be), or why
        there is none. What was sent is remembered: a decision made with it records it."""
        with self.lock:
            s = self.get(key)
            if self.model is None:
                return self.model_note  # "" when none was trained: nothing to say
            self._embed_missing(s)
            found = suggest(self.project, self.model, list(s.paths))
            if isinstance(found, Suggestion):
                self.suggested[key] = found
            return found

    # -- decisions ----------------------------------------------------------------------------
    def _embed_missing(self, s: ImageSet) -> tuple[list[str], dict[str, str]]:
        """Embed the set's images that have no sound vector: (embedded paths, {path: why not})."""
        missing = []
        for p in s.paths:
            try:
                digest: str | None = self.project.facts.get(p).sha256
            except ImageError:
                digest = None  # the embedder records why it cannot read it
            if digest is None or self.project.embeddings.vector_problem(digest) is not None:
                missing.append(p)
        if not missing:
            return [], {}
        if self._embedder is None:
            self._embedder = self.project.embedder()
        result = self.project.embed(missing, embedder=self._embedder, session_id=self.session.id)
        failed = dict(result.failed)
        return [p for p in missing if p not in failed], failed

    def decide(
        self, key: str, chosen: int, box: Sequence[float] | None = None, suggested: str = ""
    ) -> Outcome:
        """Log the person's pick of ``chosen`` (index into the set's variants), with a crop box
        normalized to the chosen image as seen, or None for a selection; ``suggested``: the
        token of the suggestion the page showed (``Suggestion.token``), recorded with what the
        person did with it. Raises KeyError for an unknown set and DecisionRejected (every
        problem) when the ledger refuses."""
        with self.lock:
            try:
                return self._decide(key, chosen, box, suggested)
            except DecisionRejected:
                self.summary.rejections += 1
                raise

    def _decide(self, key: str, chosen: int, box: Sequence[float] | None, suggested: str) -> Outcome:
        s = self.get(key)
        if not isinstance(chosen, int) or isinstance(chosen, bool) or not 0 <= chosen < len(s.paths):
            raise DecisionRejected(
                [
                    Problem(
                        "row.malformed", f"chosen {chosen!r} must be 0 to {len(s.paths) - 1} for set {key!r}"
                    )
                ]
            )
        if key in self.done:
            raise DecisionRejected([Problem(
                "row.duplicate",
                f"set {key!r} is already decided (decision {self.done[key]}); undo that decision first",
            )])  # fmt: skip
        kind = "selection" if box is None else "crop"
        pixels = size = None
        if box is not None:
            try:
                size = width, height = image_size(self.project.root / s.paths[chosen])
            except ImageError as exc:
                # the ledger names every problem of the set's images (this one included)
                self.project.ledger.admission.admit("selection", s.name, s.directory, list(s.paths), chosen)
                raise DecisionRejected([Problem("image.unreadable", str(exc))]) from exc
            pixels = box_to_pixels(box, width, height)
        embedded, failed = self._embed_missing(s)
        stages = list(s.stages) if all(st is not None for st in s.stages) else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DecisionWarning)
            try:
                ledger = self.project.ledger
                admitted = ledger.admission.admit(
                    kind, s.name, s.directory, list(s.paths), chosen, crop_coords=pixels, image_stages=stages
                )
                sent = self.suggested.get(key)
                seen = (
                    answered(sent, chosen, pixels, size, box_to_pixels)
                    if sent and sent.token == suggested
                    else None
                )
                decision_id = ledger.store(self.session.id, admitted, once_per_set=True, shown=seen)
            except AlreadyDecided as exc:  # another curator was faster: the set is done here too
                self.done[key] = exc.decision_id
                raise
            except DecisionRejected as exc:
                reason = failed.get(s.paths[chosen])
                if reason is None:
                    raise
                problems = [
                    Problem(p.code, f"{p.message} (computing it failed: {reason})")
                    if p.code == "decision.no_embedding" else p
                    for p in exc.problems
                ]  # fmt: skip
                raise DecisionRejected(problems, exc.by_image) from exc
        out = Outcome(decision_id, kind, key, pixels, [str(w.message) for w in caught], embedded)
        out.suggestion = seen.outcome if seen is not None else ""
        self.suggested.pop(key, None)
        if kind == "selection":
            self.summary.selections += 1
        else:
            self.summary.crops += 1
        self.done[key] = decision_id
        if key in self.skipped:
            self.skipped.remove(key)
        if self.move_files:
            self._move_after(s, chosen, kind, out)
        self._history.append(("decision", key, out))
        return out

    def skip(self, key: str) -> None:
        with self.lock:
            self.get(key)
            if key in self.skipped:
                self.skipped.remove(key)
            self.skipped.append(key)
            self.summary.skipped += 1
            self._history.append(("skip", key, None))

    def undo(self) -> tuple[str, str] | None:
        """Undo this run's last decision (a retraction row; files moved back) or skip.
        Returns (what, set key), or None when there is nothing to undo."""
        with self.lock:
            if not self._history:
                return None
            what, key, out = self._history.pop()
            if what == "skip":
                self.skipped.remove(key)
                self.summary.skipped -= 1
                return what, key
            assert out is not None
            self.session.undo(out.decision_id, "undone in curalog serve (Z)")
            for src, dst in reversed(out.moved):
                self._move(dst, src, "move", notes=f"undo of decision {out.decision_id}")
            self.done.pop(key, None)
            if out.kind == "selection":
                self.summary.selections -= 1
            else:
                self.summary.crops -= 1
            self.summary.undone += 1
            return what, key

    # -- optional file moves -------------------------------------------------------------------
    def _move(self, src: str, dst: str, operation: str, notes: str) -> str | None:
        """Move canonical ``src`` to ``dst`` without ever replacing a file; audited. Returns why
        it was not moved, or None."""
        root = self.project.root
        target = root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(root / src, target)  # fails if dst exists: nothing is ever overwritten
        except OSError as exc:
            return f"{src} not moved to {dst}: {exc.strerror or exc}"
        os.unlink(root / src)
        s_dir, _, name = src.rpartition("/")
        self.project.audit.record(
            operation, [name], source_dir=s_dir, dest_dir=dst.rpartition("/")[0],
            session_id=self.session.id, notes=notes,
        )  # fmt: skip
        return None

    def _move_after(self, s: ImageSet, chosen: int, kind: str, out: Outcome) -> None:
        base = s.directory.split("/")[0] + "/" if s.directory else ""
        dest = f"{base}{'crop' if kind == 'crop' else 'selected'}"
        for i, p in enumerate(s.paths):
            folder = dest if i == chosen else f"{base}{TRASH}"
            if p.rpartition("/")[0] == folder:
                continue
            to = f"{folder}/{p.rpartition('/')[2]}"
            op = "move" if i == chosen else "send_to_trash"
            problem = self._move(p, to, op, notes=f"decision {out.decision_id} ({kind}, set {s.name})")
            if problem is None:
                out.moved.append((p, to))
            else:
                out.not_moved.append(problem)
