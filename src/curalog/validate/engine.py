"""``validate``: every finding of findings.md over the legacy logs, the ledger and the vectors.

Read-only: user files are only read; the one file written is the validator's own cache.

The engine only orders the work: it reuses the last report when no input changed (the memo),
starts the check of the vector files (a forked child reads them while the logs are parsed),
has the inputs read (``inputs.read_inputs``), runs the file rules and the decision rules on them,
and builds the report.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

from curalog.audit import check_since
from curalog.config import Config, find_root, load_config
from curalog.ledger.provenance import linked_lines
from curalog.paths import list_images
from curalog.progress import Progress
from curalog.validate.background import Pending, in_background
from curalog.validate.cache import CACHE_NAME, ValidateCache
from curalog.validate.decision_rules import crop_rules, ledger_rules, log_rules, selection_rules
from curalog.validate.file_rules import FileFindings, file_rules
from curalog.validate.inputs import Inputs, VectorCheck, read_inputs
from curalog.validate.memo import (
    base_of,
    base_signature,
    combined,
    ident,
    log_idents,
    rest_signature,
    signature,
    vector_digest,
    vector_idents,
)
from curalog.validate.model import Finding, Report
from curalog.validate.outcomes import Judged
from curalog.validate.resume import resume
from curalog.validate.snapshot import capture, captured_keys, log_states
from curalog.validate.vectors import check_folder_in_background

T = TypeVar("T")
# the most index lines and vector files whose file rules and snapshot run in a forked child
# (``_judge``): at the seed's scale (156k) the child costs ~250 MB and saves a fifth of the
# run; at ten times the seed it would double the run's memory (2.5 GB against 1.9 GB)
ASIDE_MAX = 400_000
DECISION_RULES = (log_rules, selection_rules, crop_rules, ledger_rules)  # in this order


class Validated(NamedTuple):
    """A full run's report, the inputs it judged, what the decision rules concluded, and the last
    line of each log the ledger links (``linked_lines``)."""

    report: Report
    inputs: Inputs
    judged: Judged
    linked: dict[str, int]
    vectors: str  # the ``vector_digest`` of the verdicts the rules relied on ("": not taken)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one run: a run builds hundreds of thousands of
    long-lived rows and no cycles, and the collector's repeated sweeps over them cost a tenth of
    the run. Restored as it was, even on error."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _open_cache(config: Config, use_cache: bool) -> ValidateCache:
    cache = ValidateCache(config.path("database").with_name(CACHE_NAME))
    if use_cache:
        cache.load_memo()
    return cache


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(
    config: Config,
    *,
    deep: bool = False,
    since: str | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Validate; when no input changed since the last full run (same stat signature), its
    result is reused instead of recomputed (never with --deep, which re-hashes images); when
    only lines were appended to the decision logs, only those are judged (``resume``)."""
    since = check_since(since)
    cache = _open_cache(config, use_cache)
    generated_at = _now()
    memo = not deep
    if memo and cache.memo_signature:
        folder = config.path("embeddings_dir")  # each vector file stat'ed while the rest is checked
        vectors = in_background(lambda _report: vector_digest(vector_idents(folder)))
        try:
            images = {img: ident(f"{config.root}/{img}") for img in cache.memo_images}
            rest, logs = rest_signature(config, since, cache.memo_folders, images), log_idents(config)
            with gc_paused():
                report = resume(config, cache, since=since, rest=rest, folders=cache.memo_folders,
                                images=images, vectors=vectors, logs=logs)  # fmt: skip
            if report is None and cache.memo_signature == combined(base_of(rest, vectors()), logs):
                report = Report.from_json(cache.memo_report)
                if report is not None:
                    report.reused = True
        finally:
            vectors.close()  # on an error: no child left behind
        if report is not None:
            report.generated_at, report.root = generated_at, str(config.root)
            return report
    with gc_paused():
        report = _run_uncached(config, cache, generated_at, deep=deep, since=since, use_cache=use_cache,
                               memo=memo, collect=False, progress=progress).report  # fmt: skip
        cache.save()  # once the inputs are freed: the cache's arrays reuse their memory
    return report


def collect(config: Config, *, progress: Progress | None = None) -> Validated:
    """A full run for the dataset builder (never memoized, never reused): the report, the inputs
    and an outcome for every decision."""
    cache = _open_cache(config, True)
    generated_at = _now()
    with gc_paused():
        validated = _run_uncached(config, cache, generated_at, deep=False, since=None, use_cache=True,
                                  memo=False, collect=True, progress=progress)  # fmt: skip
        cache.save()
    return validated


def _run_uncached(
    config: Config,
    cache: ValidateCache,
    generated_at: str,
    *,
    deep: bool,
    since: str | None,
    use_cache: bool,
    memo: bool,
    collect: bool,
    progress: Progress | None,
) -> Validated:
    """Compute the report, and remember it in the memo when ``memo`` and nothing changed while
    it was computed (the vector files' part comes from the fstat of each file as it was read, or
    verified unchanged). With ``memo``, the snapshot for incremental runs is written by a
    forked child while the rules run (``snapshot.capture``), its keys after them."""
    if use_cache:
        cache.load()
    vectors = _start_vector_check(config, cache, progress)  # first: a child lists and reads them
    try:
        folders: list[str] = []
        listing = list_images(config.root, folders)
        before = signature(config, since, folders, {}, None) if memo else ""

        def keep_snapshot(inputs: Inputs) -> str:  # the snapshot file's id
            return cache.write_snapshot(capture(inputs))

        keep = keep_snapshot if memo else None
        validated, snapshot_id = _judge(config, cache, listing, vectors, generated_at, deep=deep, since=since,
                                        collect=collect, progress=progress, keep=keep)  # fmt: skip
    finally:
        vectors.close()  # on an error before the verdicts: no child left behind
    # the logs' identities are taken once, and the check that nothing changed is made with them:
    # a line appended after it is never in a memo that says it was judged
    logs = log_idents(config) if memo else []
    if memo and combined(base_signature(config, since, folders, {}, None), logs) == before:
        measured = validated.inputs.images.measured  # their identities as they were read
        rest = rest_signature(config, since, folders, measured)
        inputs = validated.inputs
        states = log_states(logs, [inputs.selections, inputs.crops], validated.linked)
        keys = captured_keys(validated.judged, rest, validated.vectors, states)
        signature_now = combined(base_of(rest, validated.vectors), logs)
        cache.remember(signature_now, validated.report.to_json(), folders, sorted(measured), keys,
                       snapshot_id if keys else "")  # fmt: skip
    else:
        cache.forget()
    cache.changed = True  # the caller saves it
    return validated


def _start_vector_check(config: Config, cache: ValidateCache, progress: Progress | None) -> VectorCheck:
    """Start listing the vector folder and judging every vector file (unchanged ones from the
    cache, the rest read once), in a forked child while the logs are read; returns what waits
    for the temp files and the verdicts, and remembers the verdicts in the cache."""
    folder = config.path("embeddings_dir")
    pending = check_folder_in_background(str(folder), cache.vector_entries(), progress)

    def verdicts() -> tuple[list[str], dict[str, int], dict[str, str]]:
        hashes, temps, checked = pending()  # a vector file is <hash>.npy
        cache.set_vectors(hashes, checked)
        # hash -> length (-1: not a vector) of every file; hash -> problem, of those that have one
        return temps, checked.lengths_by_hash(hashes), checked.problems_by_hash(hashes)

    return Pending(verdicts, pending.close)


def _judge(config: Config, cache: ValidateCache, listing: list[str], vectors: VectorCheck, generated_at: str,
           *, deep: bool, since: str | None, collect: bool, progress: Progress | None,
           keep: Callable[[Inputs], T] | None = None) -> tuple[Validated, T | None]:  # fmt: skip
    """Read the inputs (``vectors``: the vector check started), run every rule on them, and
    build the report. The file rules and ``keep(inputs)`` (what a run keeps of its inputs) run
    in a forked child (``background``) while the decision rules run here; the result of
    ``keep`` comes back with the report."""
    inputs = read_inputs(config, cache, listing, vectors, deep=deep, since=since)
    assert inputs.project is not None
    try:

        def aside(_report: Progress | None) -> tuple[list[tuple], list[tuple], T | None]:
            files = file_rules(inputs)  # as tuples: they cross the pipe a few times faster
            kept = keep(inputs) if keep is not None else None
            values = Finding.values
            return list(map(values, files.index_files)), list(map(values, files.vector_files)), kept

        # A forked child copies every page whose objects it reads (their reference counts are
        # written): worth it while that is small; a bigger project keeps the memory instead.
        size = len(inputs.lines.refs) + len(inputs.vectors.length)
        pending = in_background(aside, worth_it=size <= ASIDE_MAX)
        try:
            judged = Judged(collect)
            for rule in DECISION_RULES:
                judged.add(rule(inputs, collect))
            linked = linked_lines(inputs.project.db)
            # the digest of the vector files' identities the verdicts come from, while the child works
            vectors = cache.vector_digest() if keep is not None else ""
            index_files, vector_files, kept = pending()
        finally:
            pending.close()  # on an error: no child left behind
    finally:
        inputs.project.close()
    files = FileFindings([Finding(*f) for f in index_files], [Finding(*f) for f in vector_files])
    report = _report(config.root, generated_at, inputs, judged, files)
    return Validated(report, inputs, judged, linked, vectors), kept


def _report(root: Path, generated_at: str, inputs: Inputs, judged: Judged, files: FileFindings) -> Report:
    """The report: counts, every finding in (source, line, path, code) order, and the commands
    that fix them, the one that fixes the most first."""
    findings = [*files.index_files, *judged.findings, *files.vector_files]
    findings.sort(key=Report.order)
    report = Report(
        str(root), generated_at,
        selections=inputs.selections.data_lines + judged.selections,
        crops=inputs.crops.data_lines + judged.crops,
        index_entries=inputs.legacy_index.data_lines + inputs.lines.ledger,
        embedding_files=len(inputs.vectors.length),
        usable_selections=judged.usable_selections,
        usable_crops=judged.usable_crops,
        findings=findings,
    )  # fmt: skip
    report.recommend()
    return report


def validate(
    root: str | os.PathLike[str] | None = None,
    *,
    deep: bool = False,
    since: str | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Validate the project at ``root`` (legacy logs, ledger, index and vector files)."""
    config = load_config(Path(root) if root is not None else find_root())
    return run(config, deep=deep, since=since, use_cache=use_cache, progress=progress)
