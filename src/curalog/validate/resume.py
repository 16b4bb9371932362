"""Incremental validation of append-only logs: the nightly run after a day's lines.

When the only inputs that changed since the last full run are the decision logs, and each grew
by whole lines after a prefix that is byte for byte what that run judged (same size, same
sha256), only the new lines are read and judged, and their findings join the last report.

A full run keeps what that needs (``capture``, in the validator's cache): each decision log's
size, sha256, line count and whether it ended on a whole line; the identity of every other input
(``memo.base_signature``); and what the rules need to judge a line the way the full run would: the
images listed, the index as placed (the paths it lends by content hash, the images it names
that are gone, the images its lines contest), which images have a sound vector and why the
others have none, the hashes of sound vectors (an image no line names is linked by content),
the machine prefixes learned (a shortcut only), and the first line of every repeat key
(``prior``).

Why the result equals a full run's: a line's findings depend on the line, on those inputs
(unchanged: same base signature), and on earlier lines only through repeats (``prior``); a later
line never changes an earlier line's findings; path resolution does not depend on what was
resolved before (``PathResolver``); and the ledger's links to log lines (repairs, import-legacy)
reach no line past those already judged (``linked_lines``), else the log counts as not
appendable. Anything else (an edited or truncated log, a last line cut in half, a log that
appeared or vanished, any other input changed, ``--deep``) means a full run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from curalog.config import Config
from curalog.files import open_regular, stat_key
from curalog.legacy.csvlines import Tail
from curalog.legacy.logs import LogRead, read_crop_log, read_selection_columns
from curalog.paths import PathResolver, Resolution
from curalog.paths.index_placement import IndexView
from curalog.validate.cache import UNREADABLE, ValidateCache
from curalog.validate.decision_rules import crop_rules, log_rules, selection_rules
from curalog.validate.index import Embedded, IndexLines, IndexRef, Ref, Vectors
from curalog.validate.inputs import Inputs, LogLines
from curalog.validate.measure import ImageFacts
from curalog.validate.memo import (
    DECISION_LOGS,
    Ident,
    LogIdent,
    base_of,
    combined,
    log_idents,
    rest_signature,
)
from curalog.validate.model import Report
from curalog.validate.outcomes import Judged
from curalog.validate.prior import Prior

RESUME_VERSION = 1
LONGEST = 65_536  # the longest text (a path, a session id) kept


class LogState(NamedTuple):
    """A decision log as a run judged it."""

    ident: LogIdent  # as ``memo.log_idents`` gives it
    size: int
    sha256: str
    lines: int  # "\n"-ended lines
    appendable: bool  # read whole (header too), ends on a whole line, no ledger link past its end


class Appended(NamedTuple):
    """What a log gained since the last run: its new lines (``tail``, None when it has none)
    and its state now."""

    tail: Tail | None
    state: LogState


def _pack(texts: list[str]) -> np.ndarray | None:
    """Texts as one UTF-8 blob, each ended by a NUL; None when one holds a NUL or is longer than
    ``LONGEST`` (then no incremental run: a 3 MB "path" in an index is not kept)."""
    text = "\0".join(texts) + "\0" if texts else ""
    if text.count("\0") != len(texts) or (texts and max(map(len, texts)) > LONGEST):
        return None
    return np.frombuffer(text.encode("utf-8", "surrogateescape"), np.uint8)


def _unpack(blob: np.ndarray) -> list[str]:
    """The texts ``_pack`` packed."""
    return blob.tobytes().decode("utf-8", "surrogateescape").split("\0")[:-1]


def _texts_of_keys(prior: Prior) -> dict[str, list[str]]:
    sel, crop = list(prior.selections), list(prior.crops)
    return {
        "sel_session": [k[0] for k in sel], "sel_set": [k[1] for k in sel], "sel_path": [k[2] for k in sel],
        "crop_session": [k[0] for k in crop], "crop_set": [k[1] for k in crop],
        "crop_path": [k[2] for k in crop],
    }  # fmt: skip


def _arrays_of_keys(prior: Prior) -> dict[str, np.ndarray]:
    return {
        "sel_line": np.array(list(prior.selections.values()), dtype=np.int64),
        "crop_box": np.array([k[3] for k in prior.crops], dtype=np.float64).reshape(-1, 4),
        "crop_line": np.array(list(prior.crops.values()), dtype=np.int64),
    }


def _prior(snap: dict[str, np.ndarray]) -> Prior:
    """The repeat keys ``capture`` kept."""
    sel = zip(_unpack(snap["sel_session"]), _unpack(snap["sel_set"]), _unpack(snap["sel_path"]), strict=True)
    boxes = map(tuple, snap["crop_box"].tolist())
    crop = zip(_unpack(snap["crop_session"]), _unpack(snap["crop_set"]), _unpack(snap["crop_path"]), boxes,
               strict=True)  # fmt: skip
    return Prior(dict(zip(sel, snap["sel_line"].tolist(), strict=True)),
                 dict(zip(crop, snap["crop_line"].tolist(), strict=True)))  # fmt: skip


def _with_keys(arrays: dict[str, np.ndarray], prior: Prior) -> dict[str, np.ndarray] | None:
    """``arrays`` with the repeat keys of ``prior`` packed in; None when a key cannot be."""
    packed = {name: _pack(values) for name, values in _texts_of_keys(prior).items()}
    if any(blob is None for blob in packed.values()):
        return None
    return {**arrays, **packed, **_arrays_of_keys(prior)}  # type: ignore[dict-item]


# -- what a full run keeps ------------------------------------------------------------------------
def log_states(idents: list[LogIdent], reads: list[LogRead], linked: dict[str, int]) -> list[LogState]:
    """The state of each decision log (``reads``, in ``DECISION_LOGS`` order) as read now;
    ``linked``: source -> the last line of it the ledger links (``linked_lines``)."""
    return [
        _state(ident, read, linked.get(read.source, 0)) for ident, read in zip(idents, reads, strict=True)
    ]


def _read_whole(read: LogRead) -> bool:
    """Whether a log was read (its header too: a header not read means no line was)."""
    return read.exists and read.problem is None and not any(m.line == 1 for m in read.malformed)


def _state(ident: LogIdent, read: LogRead, linked: int) -> LogState:
    data, st = _read(Path(ident[0]))
    whole = _read_whole(read) and ident[2] is None and st == ident[1] and (not data or data.endswith(b"\n"))
    lines = data.count(b"\n")
    return LogState(ident, len(data), hashlib.sha256(data).hexdigest(), lines, whole and linked <= lines)


def _blob(states: list[LogState]) -> np.ndarray:
    return np.frombuffer(orjson.dumps([list(s) for s in states]), np.uint8)


def _read(path: Path) -> tuple[bytes, Ident | None]:
    """The file's bytes and its identity, when it held still while read (else (b"", None))."""
    try:
        fd = open_regular(path)
    except OSError:
        return b"", None
    with os.fdopen(fd, "rb") as fh:
        before = os.fstat(fd)
        data = fh.read()
        after = os.fstat(fd)
    ident = stat_key(before)
    if ident != stat_key(after) or len(data) != before.st_size:
        return b"", None
    return data, ident


def capture(inputs: Inputs, judged: Judged, rest: str, vectors: str,
            states: list[LogState]) -> dict[str, np.ndarray]:  # fmt: skip
    """What a later run needs to judge appended lines as this run would (module docstring); {}
    when a text it would keep cannot be kept (no incremental run then)."""
    resolver, embedded = inputs.resolver, inputs.embedded
    view = resolver.index_view()
    prefixes = resolver.learned_prefixes()
    listing = inputs.listing
    sound = embedded.sound
    texts = {
        "listing": listing,
        "prefix_head": [head for head, _inner in prefixes],
        "prefix_inner": ["/".join(inner) for _head, inner in prefixes],
        "alias_key": list(view.aliases),
        "alias_to": [r.canonical if r is not None else "" for r in view.aliases.values()],
        "gone": list(view.gone),
        "contested": list(view.contested),
        "contested_hash": [h or "" for h in view.contested.values()],
        "sound": list(sound),
        "problem_path": list(embedded.problems),
        "problem": [t or "" for t in embedded.problems.values()],
        "tops": list(resolver.listed_tops()),
        "top_dirs": list(inputs.top_dirs),
    }
    packed = {name: _pack(values) for name, values in texts.items()}
    hashes = _pack_hashes(embedded.sound_line_hashes())
    if any(blob is None for blob in packed.values()) or hashes is None:
        return {}
    prior = Prior()
    for kind, keys in (("selection", prior.selections), ("crop", prior.crops)):
        if kind in judged.firsts:
            keys.update(judged.firsts[kind]())
    arrays = {
        "version": np.array(RESUME_VERSION), "rest": np.array(rest), "vectors": np.array(vectors),
        "logs": _blob(states), "any_lines": np.array(bool(inputs.lines.refs)), **packed, **hashes,
    }  # fmt: skip
    return _with_keys(arrays, prior) or {}  # type: ignore[arg-type]


# -- a later run ----------------------------------------------------------------------------------
def _state_of(data: list) -> LogState:
    (path, ident, problem), size, sha, lines, appendable = data
    return LogState(
        (path, tuple(ident) if ident is not None else None, problem), size, sha, lines, appendable
    )


def appended(states: list[LogState], now: list[LogIdent]) -> list[Appended] | None:
    """What each decision log gained since ``states``, or None when one changed otherwise."""
    out: list[Appended] = []
    for old, ident in zip(states, now, strict=True):
        if ident == old.ident:
            out.append(Appended(None, old))
            continue
        if not old.appendable or ident[1] is None or ident[2] is not None:
            return None
        data, st = _read(Path(ident[0]))
        if st != ident[1] or len(data) < old.size:
            return None
        digest = hashlib.sha256(data[: old.size])
        if digest.hexdigest() != old.sha256:
            return None
        digest.update(data[old.size :])
        header = data[: data.index(b"\n") + 1] if old.lines else b""
        tail = Tail(header + data[old.size :], old.lines) if len(data) > old.size else None
        whole = not data or data.endswith(b"\n")  # the header was read, no link past old.lines
        state = LogState(ident, len(data), digest.hexdigest(), data.count(b"\n"), whole)
        out.append(Appended(tail, state))
    return out


def _pack_hashes(hashes: list[str]) -> dict[str, np.ndarray] | None:
    """Content hashes as 32 bytes each when they are all sha256 hex (the index's own form),
    else as texts."""
    text = "".join(hashes)
    if len(text) == 64 * len(hashes):
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if raw.hex() == text:  # lowercase hex through and through
            return {"sound_hash_raw": np.frombuffer(raw, np.uint8)}
    packed = _pack(hashes)
    return {"sound_hash": packed} if packed is not None else None


class SoundHashes:
    """``Embedded``'s by-content look-up over the hashes of sound vectors (read when first asked)."""

    def __init__(self, snap: dict[str, np.ndarray]) -> None:
        self.snap = snap
        self.hashes: set[str] | None = None

    def get(self, digest: str, /) -> Ref | None:
        if self.hashes is None:
            if "sound_hash_raw" in self.snap:
                text = self.snap["sound_hash_raw"].tobytes().hex()
                self.hashes = {text[i : i + 64] for i in range(0, len(text), 64)}
            else:
                self.hashes = set(_unpack(self.snap["sound_hash"]))
        return IndexRef(digest, None, "", None) if digest in self.hashes else None


def _resolver(config: Config, snap: dict[str, np.ndarray], listing: list[str],
              hash_of: Callable[[str], str | None]) -> PathResolver:  # fmt: skip
    """The resolver as the full run left it: its listing, its index view, its prefixes."""
    resolver = PathResolver(config.root, listing=listing, hash_of=hash_of)
    aliases = {
        k: Resolution(t, "index (content-hash)", True) if t else None
        for k, t in zip(_unpack(snap["alias_key"]), _unpack(snap["alias_to"]), strict=True)
    }
    gone = frozenset(_unpack(snap["gone"]))
    names: dict[str, list[str]] = {}
    for g in sorted(gone):
        names.setdefault(g.rpartition("/")[2], []).append(g)
    contested = dict(zip(_unpack(snap["contested"]), [h or None for h in _unpack(snap["contested_hash"])],
                         strict=True))  # fmt: skip
    prefixes = [
        (head, tuple(inner.split("/")) if inner else ())
        for head, inner in zip(_unpack(snap["prefix_head"]), _unpack(snap["prefix_inner"]), strict=True)
    ]
    view = IndexView([], aliases, gone, names, contested)
    resolver.adopt(view, prefixes, set(_unpack(snap["tops"])))
    return resolver


def _inputs(config: Config, cache: ValidateCache, snap: dict[str, np.ndarray], grown: list[Appended],
            since: str | None) -> Inputs:  # fmt: skip
    """The inputs of the appended lines (``Inputs`` whose logs hold only those lines)."""
    lay = config.layout
    listing = _unpack(snap["listing"])
    images = ImageFacts(config.root, cache, None)
    resolver = _resolver(config, snap, listing, images.content_hash)
    problems = dict(zip(_unpack(snap["problem_path"]), [t or None for t in _unpack(snap["problem"])],
                        strict=True))  # fmt: skip
    sound = set(_unpack(snap["sound"]))
    embedded = Embedded.restored(sound, problems, bool(snap["any_lines"]), SoundHashes(snap), resolver,
                                 images.content_hash)  # fmt: skip
    sel_tail, crop_tail = (g.tail for g in grown)
    sel_path, crop_path = config.path("selection_log"), config.path("crop_log")
    selections, columns = (
        read_selection_columns(sel_path, lay.selection_log, sel_tail) if sel_tail is not None
        else (LogRead(lay.selection_log, exists=True), None)
    )  # fmt: skip
    crops = (
        read_crop_log(crop_path, lay.crop_log, crop_tail) if crop_tail is not None
        else LogRead(lay.crop_log, exists=True)
    )  # fmt: skip
    prior = _prior(snap)
    return Inputs(
        config, False, since, listing, frozenset(_unpack(snap["top_dirs"])),
        selections, columns, crops, LogRead(lay.embedding_index, exists=True), None,
        IndexLines([], [], 0), resolver, Vectors({}, [], {}, {}, lay.embeddings_dir), embedded, images,
        LogLines.unlinked({lay.selection_log: sel_path, lay.crop_log: crop_path}), {}, {}, prior,
    )  # fmt: skip


def resume(
    config: Config,
    cache: ValidateCache,
    *,
    since: str | None,
    rest: str,
    folders: list[str],
    images: dict[str, Ident | None],
    vectors: Callable[[], str],
    logs: list[LogIdent],
) -> Report | None:
    """The report of a run whose only change since the last full run is lines appended to the
    decision logs, or None when a full run is needed (or nothing changed). ``rest``: the
    ``rest_signature`` now, of ``folders`` and ``images`` (what the last run's memo names, with
    their identities now); ``vectors``: waits for the vector files' digest now (taken while the
    lines are judged); ``logs``: the decision logs' identities now. The result is remembered for
    the next run."""
    snap = cache.load_resume()
    try:
        if not snap or snap["version"].item() != RESUME_VERSION or str(snap["rest"]) != rest:
            return None
        states = [_state_of(s) for s in orjson.loads(snap["logs"].tobytes())]
        if [s.ident for s in states] == logs:
            return None  # no log changed: the memo decides
        grown = appended(states, logs) if len(states) == len(DECISION_LOGS) else None
        if grown is None:
            return None
        inputs = _inputs(config, cache, snap, grown, since)
    except UNREADABLE:  # kept by another version, or damaged: a full run
        return None
    judged = Judged(False)
    for rule in (log_rules, selection_rules, crop_rules):
        judged.add(rule(inputs, False))
    if log_idents(config) != logs:
        return None  # a log changed while its lines were judged
    report = Report.from_json(cache.memo_report)
    if report is None:
        return None
    report.findings.extend(judged.findings)
    report.findings.sort(key=Report.order)
    report.selections += inputs.selections.data_lines + judged.selections
    report.crops += inputs.crops.data_lines + judged.crops
    report.usable_selections += judged.usable_selections
    report.usable_crops += judged.usable_crops
    report.recommend()
    report.appended = inputs.selections.data_lines + inputs.crops.data_lines
    measured = {**images, **inputs.images.measured}
    if measured != images:  # images measured for the first time (or again, changed)
        rest = rest_signature(config, since, folders, measured)
    # Remembered under the vector files' identities the judging relied on, before they are
    # known to be unchanged: if one changed, this memo never matches, and a full run follows.
    # a log that was empty got its header now: lines are appended to it only if it was read
    reads = (inputs.selections, inputs.crops)
    states = [
        g.state._replace(appendable=g.state.appendable and _read_whole(r))
        for g, r in zip(grown, reads, strict=True)
    ]
    relied_on = str(snap["vectors"])
    signature = combined(base_of(rest, relied_on), [s.ident for s in states])
    cache.remember(signature, report.to_json(), folders, sorted(measured),
                   resumed_snapshot(snap, rest, states, inputs, judged))  # fmt: skip
    cache.changed = False  # the per-file entries were not read: only the memo is written
    cache.save()
    return report if vectors() == relied_on else None


def resumed_snapshot(snap: dict[str, np.ndarray], rest: str, states: list[LogState],
                     inputs: Inputs, judged: Judged) -> dict[str, np.ndarray]:  # fmt: skip
    """The kept snapshot after an incremental run: the new base and states, the keys grown."""
    prior = inputs.prior
    assert prior is not None
    for kind, keys in (("selection", prior.selections), ("crop", prior.crops)):
        if kind in judged.firsts:
            keys.update(judged.firsts[kind]())  # keys of the lines judged now: none was there
    return _with_keys({**snap, "rest": np.array(rest), "logs": _blob(states)}, prior) or {}
