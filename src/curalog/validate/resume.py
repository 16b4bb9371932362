"""Incremental validation of append-only logs: the nightly run after a day's lines.

When the only inputs that changed since the last full run are the decision logs, and each grew
by whole lines after a prefix that is byte for byte what that run judged (same size, same
sha256), only the new lines are read and judged, and their findings join the last report.

A full run keeps what that needs (``snapshot``): in the memo file each decision log's size,
sha256, line count and whether it ended on a whole line, the identity of every other input
(``memo.rest_signature``, the vector files' digest) and the repeat keys; in the snapshot file
what the rules need to judge a line the way the full run would: the
images listed, the index as placed (the paths it lends by content hash, the images it names
that are gone, the images its lines contest), which images have a sound vector and why the
others have none, the hashes of sound vectors (an image no line names is linked by content),
and the machine prefixes learned (a shortcut only). The first line of every repeat key is
``prior``.

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
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from curalog.config import Config
from curalog.legacy.csvlines import Tail, tail_of
from curalog.legacy.logs import LogRead, read_crop_log, read_selection_columns
from curalog.validate.cache import UNREADABLE, ValidateCache
from curalog.validate.decision_rules import crop_rules, log_rules, selection_rules
from curalog.validate.index import Embedded, IndexLines, Vectors
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
from curalog.validate.snapshot import (
    RESUME_VERSION,
    LogState,
    SoundHashes,
    blob_of,
    prior_of,
    read_log,
    read_whole,
    resolver_of,
    state_of,
    unpack,
    with_keys,
)


class Appended(NamedTuple):
    """What a log gained since the last run: its new lines (``tail``, None when it has none)
    and its state now."""

    tail: Tail | None
    state: LogState


def appended(states: list[LogState], now: list[LogIdent]) -> list[Appended] | None:
    """What each decision log gained since ``states``, or None when one changed otherwise."""
    out: list[Appended] = []
    for old, ident in zip(states, now, strict=True):
        if ident == old.ident:
            out.append(Appended(None, old))
            continue
        if not old.appendable or ident[1] is None or ident[2] is not None:
            return None
        data, st = read_log(Path(ident[0]))
        if st != ident[1] or len(data) < old.size:
            return None
        digest = hashlib.sha256(data[: old.size])
        if digest.hexdigest() != old.sha256:
            return None
        digest.update(data[old.size :])
        tail = tail_of(data, old.lines, old.size) if len(data) > old.size else None
        # ends on a whole line; no ledger link past old.lines; whether a header that came only now
        # was read is known once the tail is (``resume``)
        whole = not data or data.endswith(b"\n")
        state = LogState(ident, len(data), digest.hexdigest(), data.count(b"\n"), whole)
        out.append(Appended(tail, state))
    return out


def _inputs(config: Config, cache: ValidateCache, snap: dict[str, np.ndarray], grown: list[Appended],
            since: str | None) -> Inputs:  # fmt: skip
    """The inputs of the appended lines (``Inputs`` whose logs hold only those lines)."""
    lay = config.layout
    listing = unpack(snap["listing"])
    images = ImageFacts(config.root, cache, None)
    resolver = resolver_of(config, snap, listing, images.content_hash)
    problems = dict(zip(unpack(snap["problem_path"]), [t or None for t in unpack(snap["problem"])],
                        strict=True))  # fmt: skip
    sound = set(unpack(snap["sound"]))
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
    prior = prior_of(snap)
    return Inputs(
        config, False, since, listing, frozenset(unpack(snap["top_dirs"])),
        selections, columns, crops, LogRead(lay.embedding_index, exists=True), None,
        IndexLines([], [], 0), resolver, Vectors([], {}, {}, lay.embeddings_dir), embedded, images,
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
        states = [state_of(s) for s in orjson.loads(snap["logs"].tobytes())]
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
    # a log that was empty got its header now: lines are appended to it only if it was read
    reads = (inputs.selections, inputs.crops)
    states = [
        g.state._replace(appendable=g.state.appendable and read_whole(r))
        for g, r in zip(grown, reads, strict=True)
    ]
    # Remembered under the vector files' identities the judging relied on, before they are
    # known to be unchanged: if one changed, this memo never matches, and a full run follows.
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
    prior.learn(judged.firsts)
    return with_keys({**snap, "rest": np.array(rest), "logs": blob_of(states)}, prior) or {}
