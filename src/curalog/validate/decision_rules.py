"""The decision rules: every logged decision (the selection log, the crop log, the ledger) judged
against the inputs: can its chosen image be placed, is it on disk and soundly embedded, is its box
and size sound, is it a repeat.

Each part takes the ``Inputs`` and returns what it concluded (``Judged``); the engine runs them in
order (logs, selections, crops, ledger) and joins them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from curalog.arrays import indices, numbers, strings
from curalog.boxes import BOX_RULES, BoxColumns
from curalog.errors import PathAmbiguous, PathError
from curalog.ledger.provenance import imported_decision_ids
from curalog.legacy.logs import CropRow, LogRead, SelectionColumns, SelectionRow
from curalog.paths import METHOD_TEXT, PathResolver, Resolution
from curalog.validate import rules
from curalog.validate.inputs import Inputs
from curalog.validate.model import Finding
from curalog.validate.outcomes import CleanSelections, Judged, RowOutcome, has_error, row_outcome
from curalog.validate.prior import Seen, SelectionKey
from curalog.validate.rules import Where

PLAIN_METHODS = frozenset({"exact", "stripped-prefix", "directory"})


def _codes(values: Any) -> np.ndarray:
    """Dictionary codes of a pyarrow string array (equal strings, equal codes)."""
    import pyarrow.compute as pc

    return numbers(pc.dictionary_encode(values).indices)


def canonical_codes(resolver: PathResolver, raw: Any, directory: Any) -> tuple[np.ndarray, list[str | None]]:
    """For columns of logged paths and their rows' directories (pyarrow string arrays): per
    row, an index into a list of canonical paths as ``PathResolver.quick`` gives them (None
    where it cannot tell). Each distinct path is looked up once; only paths that quick can
    place by their row's directory alone are looked up per (path, directory)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    quick = resolver.quick
    encoded = pc.dictionary_encode(raw)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = numbers(encoded.indices)
    found: list[str | None] = [quick(r, "") for r in encoded.dictionary.to_pylist()]
    unplaced = np.array([f is None for f in found], dtype=bool)
    need = np.flatnonzero(unplaced[codes]) if len(found) else np.zeros(0, dtype=np.int64)
    if len(need):
        at = indices(need)
        memo: dict[tuple[str, str], int] = {}
        for j, r, d in zip(
            need.tolist(), raw.take(at).to_pylist(), directory.take(at).to_pylist(), strict=True
        ):
            code = memo.get((r, d))
            if code is None:
                code = memo[(r, d)] = len(found)
                found.append(quick(r, d) if d else None)
            codes[j] = code
    return codes, found


# -- one decision's chosen image ---------------------------------------------------------------
def _resolve(inputs: Inputs, raw: str, directory: str, where: Where, out: list[Finding]) -> Resolution | None:
    try:
        return inputs.resolver.resolve(raw, directory)
    except PathAmbiguous as exc:
        linked = inputs.log_lines.ledger_link(where.source, where.line or 0)
        if linked in exc.candidates:
            return Resolution(linked, "ledger", (inputs.root / linked).is_file())
        where = where._replace(project=where.project or inputs.project_guess(raw, directory))
        out.append(rules.path_ambiguous(where, exc.candidates))
    except PathError as exc:
        where = where._replace(project=where.project or inputs.project_guess(raw, directory))
        out.append(rules.path_unresolved(where, str(exc)))
    return None


def _decision(inputs: Inputs, kind: str, raw: str, directory: str, where: Where,
              row_findings: list[Finding]) -> tuple[Where, bool, bool]:  # fmt: skip
    """Path, image and embedding checks of a decision's chosen image.

    Returns the location (canonical when resolved), whether the chosen path resolved, and
    whether the decision has a sound vector.
    """
    quick = inputs.resolver.quick(raw, directory)
    embedded = inputs.embedded
    if quick is not None and quick in embedded.sound:  # listed, on disk, soundly embedded
        return Where(where.source, where.line, quick.split("/", 1)[0], quick), True, True
    res = _resolve(inputs, raw, directory, where, row_findings)
    if res is None:
        return where._replace(project=inputs.project_guess(raw, directory)), False, False
    where = Where(where.source, where.line, res.canonical.split("/", 1)[0], res.canonical)
    # which rule placed the path, when it was not found where it was written
    how = (
        ""
        if res.method in PLAIN_METHODS
        else f" (the logged path {raw!r} was placed {METHOD_TEXT[res.method]})"
    )
    if not res.on_disk:
        row_findings.append(rules.image_missing(where, how))
    problem = embedded.problem(res.canonical)
    if problem is not None:
        policy = inputs.config.policy.require_embedding
        severity = "error" if (kind == "crop" and policy != "off") or policy == "all" else "warning"
        row_findings.append(rules.decision_no_embedding(where, problem, severity, how))
    return where, True, problem is None


# -- the logs' unreadable files and lines --------------------------------------------------------
def log_rules(inputs: Inputs, collect: bool) -> Judged:
    """A log that cannot be read, and every line that cannot be parsed (a data line of a
    decision log is a decision: dropped, with its outcome)."""
    judged = Judged(collect)
    findings = judged.findings
    for read in (inputs.selections, inputs.crops, inputs.legacy_index):
        if read.problem is not None:
            findings.append(rules.log_unreadable(read.source, read.problem))
        for m in read.malformed:
            where = Where(m.source, m.line, inputs.project_guess(m.raw_path), m.raw_path)
            findings.append(rules.row_malformed(where, m.message))
            if collect and read is not inputs.legacy_index and m.line > 1:  # a data line
                kind = "selection" if read is inputs.selections else "crop"
                judged.rows.append(RowOutcome(
                    kind, m.source, m.line, "", where.project, m.raw_path, "", "", (), None, None,
                    False, ("row.malformed",),
                ))  # fmt: skip
    return judged


# -- the selection log, by column ---------------------------------------------------------------
def selection_rules(inputs: Inputs, collect: bool) -> Judged:
    """The selection log, by column: decisions with no finding (their chosen image placed
    by ``quick`` and soundly embedded, and not a repeat) are counted and collected in bulk;
    the rest go through the per-row checks. Repeats are found over all rows without an
    error, in line order, as the per-row rule does."""
    judged = Judged(collect)
    cols = inputs.selection_columns
    if cols is None or not len(cols):
        return judged
    keep = _selections_to_check(inputs, cols)
    codes, canonical = canonical_codes(inputs.resolver, cols.chosen_path, cols.directory)
    sound, index = inputs.embedded.sound, inputs.embedded.index
    in_sound = np.array([c is not None and c in sound for c in canonical], dtype=bool)
    clean = keep & in_sound[codes]
    key_path = np.array(canonical, dtype=object)[codes]
    # the rest: per-row checks (their path, for repeats, updated in key_path); repeats below
    slow, eligible = _selection_rows(inputs, cols, keep & ~clean, clean, key_path)
    prior = inputs.prior.selections if inputs.prior is not None else None
    repeat, first_line, firsts = _repeats(cols, eligible, key_path, prior)
    judged.firsts["selection"] = firsts
    # bulk: no finding at all
    bulk = clean & ~repeat
    judged.usable_selections += int(bulk.sum())
    if collect and bulk.any():
        judged.clean = _clean_selections(cols, bulk, codes, canonical, in_sound, index)
    # one by one: repeats of clean rows, and the rows that had findings
    one_by_one = np.flatnonzero((clean & repeat) | (keep & ~clean))
    fresh = [i for i in one_by_one.tolist() if i not in slow]
    rows = dict(zip(fresh, cols.rows(np.array(fresh, dtype=np.int64)), strict=True))
    for i in one_by_one.tolist():
        if i in slow:
            row, where, found, usable, error = slow[i]
        else:
            row, c = rows[i], canonical[codes[i]]
            assert c is not None
            where, found, usable, error = Where(row.source, row.line, c.split("/", 1)[0], c), [], True, False
        usable = judged.conclude("selection", where, found, usable, error, first_line.get(i))
        if collect:
            judged.outcome(index, "selection", where, row.set_id, row.directory, row.negative_paths, found,
                           usable)  # fmt: skip
    return judged


def _selections_to_check(inputs: Inputs, cols: SelectionColumns) -> np.ndarray:
    """The rows in the date range and not superseded by a repair."""
    keep = np.ones(len(cols), dtype=bool)
    if inputs.since:
        keep &= np.array([inputs.in_range(t) for t in cols.timestamp.to_pylist()], dtype=bool)
    done = [line for (source, line) in inputs.superseded if source == cols.source]
    if done:
        keep &= ~np.isin(cols.lines, done)
    return keep


def _selection_rows(
    inputs: Inputs, cols: SelectionColumns, rows: np.ndarray, clean: np.ndarray, key_path: np.ndarray
) -> tuple[dict[int, tuple[SelectionRow, Where, list[Finding], bool, bool]], np.ndarray]:
    """The per-row checks of the rows in ``rows`` (a mask): their (row, location, findings,
    usable, has an error) by position, and the rows without an error (the clean ones and these),
    among which repeats are judged. Sets ``key_path`` of such a row to its resolved path."""
    slow: dict[int, tuple[SelectionRow, Where, list[Finding], bool, bool]] = {}
    eligible = clean.copy()
    at = np.flatnonzero(rows)
    for i, row in zip(at.tolist(), cols.rows(at), strict=True):
        found: list[Finding] = []
        where = Where(row.source, row.line, "", row.chosen_path)
        where, _resolved, usable = _decision(
            inputs, "selection", row.chosen_path, row.directory, where, found
        )
        error = has_error(found)
        slow[i] = (row, where, found, usable, error)
        if not error:
            eligible[i] = True
            key_path[i] = where.path
    return slow, eligible


def _repeats(
    cols: SelectionColumns, eligible: np.ndarray, key_path: np.ndarray, prior: dict[SelectionKey, int] | None
) -> tuple[np.ndarray, dict, Callable[[], list[tuple[SelectionKey, int]]]]:
    """Which eligible rows repeat an earlier one (same session, set and chosen image), for each
    repeat the line of the first (``prior``: the first lines of the keys of lines judged before
    these), and the function that gives the key and line of each first."""

    at = np.flatnonzero(eligible)
    repeat = np.zeros(len(cols), dtype=bool)
    first_line: dict[int, int] = {}
    if prior and len(at):
        hits = [prior.get(k) for k in _selection_keys(cols, at, key_path)]
        for i, hit in zip(at.tolist(), hits, strict=True):
            if hit is not None:
                repeat[i], first_line[i] = True, hit
        at = np.array([i for i, hit in zip(at.tolist(), hits, strict=True) if hit is None], dtype=np.int64)
    firsts_at = at
    if len(at):
        take = indices(at)
        paths: dict[str, int] = {}  # any text, lone surrogates too
        path = np.fromiter(
            (paths.setdefault(p, len(paths)) for p in key_path[at].tolist()), np.int64, len(at)
        )
        key = _combined(_combined(_codes(cols.session_id.take(take)), _codes(cols.set_id.take(take))), path)
        _keys, first, inverse = np.unique(key, return_index=True, return_inverse=True)  # first: in row order
        dup = np.ones(len(at), dtype=bool)
        dup[first] = False
        if dup.any():
            repeat[at[dup]] = True
            firsts = cols.lines[at][first[inverse.reshape(-1)]]
            first_line.update(zip(at[dup].tolist(), firsts[dup].tolist(), strict=True))
            firsts_at = at[~dup]

    def keys() -> list[tuple[SelectionKey, int]]:
        lines = cols.lines[firsts_at].tolist()
        return list(zip(_selection_keys(cols, firsts_at, key_path), lines, strict=True))

    return repeat, first_line, keys


def _combined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One code per distinct pair of codes (each below the number of rows: no overflow)."""
    pair = a.astype(np.int64) * (int(b.max()) + 1 if len(b) else 1) + b.astype(np.int64)
    return np.unique(pair, return_inverse=True)[1].reshape(-1)


def _selection_keys(cols: SelectionColumns, at: np.ndarray, key_path: np.ndarray) -> list[SelectionKey]:
    """The repeat keys (session, set, chosen image) of the rows at positions ``at``."""

    take = indices(at)
    sessions, sets = cols.session_id.take(take).to_pylist(), cols.set_id.take(take).to_pylist()
    return list(zip(sessions, sets, key_path[at].tolist(), strict=True))


def _clean_selections(
    cols: SelectionColumns,
    bulk: np.ndarray,
    codes: np.ndarray,
    canonical: list[str | None],
    in_sound: np.ndarray,
    index: dict,
) -> CleanSelections:
    """The selections with no finding (``bulk``), by column."""

    u_hash = [index[c].hash if ok else "" for c, ok in zip(canonical, in_sound, strict=True)]
    u_project = [c.split("/", 1)[0] if c else "" for c in canonical]
    rows_at = np.flatnonzero(bulk)
    take, by_code = indices(rows_at), indices(codes[rows_at])
    project, path, digest = (strings(v).take(by_code) for v in (u_project, canonical, u_hash))
    return CleanSelections(
        cols, rows_at, cols.lines[rows_at], cols.set_id.take(take), project, path, digest,
        cols.directory.take(take), codes[rows_at], u_hash,
    )  # fmt: skip


# -- the crop log, row by row -------------------------------------------------------------------
def _to_check(inputs: Inputs, read: LogRead) -> list:
    """The log's rows in the date range and not superseded by a repair."""
    superseded = inputs.superseded
    if not inputs.since and not superseded:
        return read.rows
    return [r for r in read.rows if inputs.in_range(r.timestamp) and (r.source, r.line) not in superseded]


def crop_rules(inputs: Inputs, collect: bool) -> Judged:
    """The crop log: box rules on whole columns, then each row; a row with a known size, no box
    finding, a soundly embedded chosen image of the logged size, and no earlier twin is counted
    usable in a few operations (the common case)."""
    judged = Judged(collect)
    rows = _to_check(inputs, inputs.crops)
    if not rows:
        return judged
    cols = BoxColumns.of(rows)
    masks = [(code, mask_of(cols), summary) for code, mask_of, summary in BOX_RULES]
    size_known = cols.size_known
    plain = size_known.copy()  # a known size and no box finding
    for _code, mask, _summary in masks:
        plain &= ~mask
    quick, sound, index = inputs.resolver.quick, inputs.embedded.sound, inputs.embedded.index
    size_of = inputs.images.size
    seen: dict[tuple, int] = Seen(inputs.prior.crops) if inputs.prior is not None else {}
    judged.firsts["crop"] = lambda: list(dict.items(seen))
    for i, (row, is_plain) in enumerate(zip(rows, plain.tolist(), strict=True)):
        assert isinstance(row, CropRow)
        others = tuple(p for j, p in enumerate(row.image_paths) if j != row.chosen_index)
        canonical = quick(row.chosen_path, row.directory) if is_plain else None
        if canonical is not None and canonical in sound:
            size, actual = row.chosen_size, size_of(canonical)
            key = (row.session_id, row.set_id, canonical, row.box)
            if (actual is None or (size[0], size[1]) == (actual[0], actual[1])) and key not in seen:
                seen[key] = row.line
                judged.usable_crops += 1
                if collect:
                    judged.rows.append(row_outcome((
                        "crop", row.source, row.line, row.set_id, canonical.split("/", 1)[0], canonical,
                        index[canonical].hash, row.directory, others, row.box, row.chosen_size, True, (),
                    )))  # fmt: skip
                continue
        box = next(((code, summary) for code, mask, summary in masks if mask[i]), None)
        _crop_row(inputs, judged, row, box, bool(size_known[i]), seen, others)
    return judged


def _crop_row(inputs: Inputs, judged: Judged, row: CropRow, box: tuple[str, str] | None, size_known: bool,
              seen: dict[tuple, int], others: tuple[str, ...]) -> None:  # fmt: skip
    """Every check of one crop row (``box``: the code and summary of the first box rule, in
    precedence, that its box breaks: at most one box finding a row)."""
    found: list[Finding] = []
    where = Where(row.source, row.line, "", row.chosen_path)
    where, resolved, usable = _decision(inputs, "crop", row.chosen_path, row.directory, where, found)
    zero = rules.crop_zero_dimensions(where, *row.chosen_size)
    if zero is not None:
        found.append(zero)
    if box is not None:
        found.append(rules.box_finding(box[0], where, box[1], row.box, row.chosen_size))
    actual = inputs.images.size(where.path) if resolved and size_known else None
    if actual is not None:
        mismatch = rules.crop_dimension_mismatch(where, row.chosen_size, actual)
        if mismatch is not None:
            found.append(mismatch)
    key = (row.session_id, row.set_id, where.path, row.box)
    usable = judged.finish_row("crop", where, key, found, usable, seen)
    if judged.collect:
        judged.outcome(inputs.embedded.index, "crop", where, row.set_id, row.directory, others, found, usable,
                       row.box, row.chosen_size)  # fmt: skip


# -- the ledger's decisions -----------------------------------------------------------------------
def ledger_rules(inputs: Inputs, collect: bool) -> Judged:
    """Decisions logged through the ledger. Those import-legacy took from a log that is still
    on disk were validated as that log's lines and are not counted twice; those a repair made of
    a log line (still as repaired) replace that line, counted once."""
    judged = Judged(collect)
    project = inputs.project
    assert project is not None  # never None where the ledger's decisions are judged
    legacy_sources = [read.source for read in (inputs.selections, inputs.crops) if read.exists]
    source = inputs.config.layout.database
    imported = imported_decision_ids(project.db, legacy_sources)
    repaired = set(inputs.superseded.values())  # their legacy line was counted already
    for d in project.ledger.decisions():
        if (d.id in imported and d.id not in repaired) or not inputs.in_range(d.created_at):
            continue
        if d.id not in repaired:
            if d.kind == "crop":
                judged.crops += 1
            else:
                judged.selections += 1
        found: list[Finding] = []
        where = Where(source, d.id, d.project, d.chosen.path)
        _where, _resolved, usable = _decision(inputs, d.kind, d.chosen.path, "", where, found)
        usable = judged.finish_row(d.kind, where, ("ledger", d.id), found, usable, {})
        if collect:
            others = tuple(c.path for c in d.candidates if c.idx != d.chosen.idx)
            size = (float(d.chosen.width), float(d.chosen.height))
            judged.outcome(inputs.embedded.index, d.kind, where, d.set_id, d.directory, others, found, usable,
                           d.box, size)  # fmt: skip
    return judged
