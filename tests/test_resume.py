"""Incremental validation (``validate.resume``): after lines were appended to the decision logs,
judging only those lines gives the report a full run gives, byte for byte; anything else that
changed (an edited or truncated log, a line cut in half, another input) makes it a full run."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curalog.validate import validate
from curalog.validate.model import Report
from tests.project_gen import CROP, INDEX, SEL, generate


def _same(a: Report, b: Report) -> str:
    """The JSON report of ``a`` as ``b``'s time and root would write it."""
    a.generated_at, a.root = b.generated_at, b.root
    return a.to_json(indent=True)


def _reference(root: Path, since: str | None = None) -> Report:
    """A full run, leaving the validator's cache as it was (the next night resumes from what the
    last incremental run kept, as it would without this check)."""
    data = root / "data"
    kept = {p: p.read_bytes() for p in data.glob("curalog-validate-cache*.npz")}
    try:
        return validate(root, since=since, use_cache=False)
    finally:
        for p in data.glob("curalog-validate-cache*.npz"):
            p.unlink()
        for p, content in kept.items():
            p.write_bytes(content)


def _split(root: Path, rng: random.Random, cut: float, repeats: int) -> dict[str, str]:
    """Cut each log after a random line; returns the text to append later: the lines cut, plus
    copies of earlier lines (repeats of decisions judged before)."""
    later = {}
    for log in (SEL, CROP):
        lines = (root / log).read_text(encoding="utf-8").splitlines(keepends=True)
        k = 1 + int(cut * max(0, len(lines) - 1))
        copies = [rng.choice(lines[1:]) for _ in range(repeats)] if len(lines) > 1 else []
        (root / log).write_text("".join(lines[:k]), encoding="utf-8")
        later[log] = "".join(lines[k:] + copies)
    return later


def _append(root: Path, later: dict[str, str]) -> int:
    for log, text in later.items():
        with open(root / log, "a", encoding="utf-8") as fh:
            fh.write(text)
    return sum(text.count("\n") for text in later.values())


@settings(
    max_examples=int(os.environ.get("CURALOG_RESUME_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False), cut=st.floats(0, 1), repeats=st.integers(0, 3),
       days=st.integers(1, 2), since=st.sampled_from([None, "2025-10-02T14:30"]))  # fmt: skip
def test_judging_only_the_appended_lines_equals_a_full_run(
    rng: random.Random, cut: float, repeats: int, days: int, since: str | None
) -> None:
    """Every path convention and defect of the generator, repeats of lines judged before, new
    decisions on old sets, two nights in a row, with and without ``--since``."""
    with tempfile.TemporaryDirectory(prefix="curalog-test-resume-") as tmp:
        root = Path(tmp)
        generate(root, rng)
        later = _split(root, rng, cut, repeats)
        validate(root, since=since)  # yesterday's full run
        for day in range(days):
            part = {
                log: text if day == days - 1 else text[: text.find("\n") + 1] for log, text in later.items()
            }
            later = {log: later[log][len(part[log]) :] for log in later}
            n = _append(root, part)
            nightly = validate(root, since=since)
            assert (nightly.appended, nightly.reused) == (n, n == 0)
            full = _reference(root, since)
            assert _same(nightly, full) == full.to_json(indent=True)
        again = validate(root, since=since)
        assert again.reused and _same(again, full) == full.to_json(indent=True)


def _project(tmp_path: Path, seed: int = 3) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "p"
    generate(root, random.Random(seed), max_images=10, max_rows=12)
    later = _split(root, random.Random(seed), 0.5, 2)
    validate(root)
    return root, later


def test_an_edited_line_before_the_new_ones_means_a_full_run(tmp_path: Path) -> None:
    root, later = _project(tmp_path)
    log = root / SEL
    text = log.read_text(encoding="utf-8")
    log.write_text(text.replace("set_", "SET_", 1), encoding="utf-8")  # same size, another decision
    _append(root, later)
    report = validate(root)
    assert report.appended == 0 and not report.reused
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)


def test_a_truncated_log_means_a_full_run(tmp_path: Path) -> None:
    root, _later = _project(tmp_path)
    log = root / CROP
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:-1]), encoding="utf-8")
    report = validate(root)
    assert report.appended == 0
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)


def test_a_line_cut_in_half_is_judged_whole_by_a_full_run(tmp_path: Path) -> None:
    """A log read while its writer was mid-line ends without a newline: the rest of that line,
    appended later, is not a line of its own."""
    root, later = _project(tmp_path)
    text = later[SEL]
    cut = text.find("\n") // 2
    _append(root, {SEL: text[:cut]})
    validate(root)
    _append(root, {SEL: text[cut:], CROP: later[CROP]})
    report = validate(root)
    assert report.appended == 0  # the log did not end on a whole line: a full run
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)
    _append(root, {SEL: text[text.find("\n") + 1 :][:0] + "2025-11-01T09:00:00,s9,set_0,,mojo1/a.png,[]\n"})
    assert validate(root).appended == 1  # and the next night is incremental again


def test_any_other_change_means_a_full_run(tmp_path: Path) -> None:
    root, later = _project(tmp_path)
    _append(root, later)
    with open(root / INDEX, "a", encoding="utf-8") as fh:
        fh.write('{"image_path": "mojo1/selected/a.png", "hash": "00"}\n')
    report = validate(root)
    assert report.appended == 0 and not report.reused
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)


def test_nothing_appended_after_a_touch_is_still_the_same_report(tmp_path: Path) -> None:
    root, _later = _project(tmp_path)
    (root / SEL).touch()
    report = validate(root)
    assert not report.reused and report.appended == 0
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)
    assert validate(root).reused


def test_lines_the_ledger_imported_are_judged_as_a_full_run_judges_them(tmp_path: Path) -> None:
    """import-legacy links log lines to decisions (the ledger's decisions of a log still on disk
    are not counted twice): lines appended after an import are judged incrementally, and a log
    cut back before the last line the ledger links is not (a full run, then)."""
    import curalog
    from curalog.legacy.importer import import_legacy

    root, later = _project(tmp_path, seed=5)
    with curalog.open_project(root) as p:
        import_legacy(p)
    validate(root)
    n = _append(root, later)
    report = validate(root)
    assert report.appended == n > 0
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)
    with curalog.open_project(root) as p:  # the whole log imported, then cut back by its user
        import_legacy(p)
    validate(root)
    log = root / SEL
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:2]), encoding="utf-8")
    validate(root)  # a full run: the ledger links lines past the log's end now
    log.write_text("".join(lines), encoding="utf-8")  # the same lines again
    report = validate(root)
    assert report.appended == 0 and not report.reused
    assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True)


def test_a_memo_of_another_shape_is_a_full_run_never_a_traceback(tmp_path: Path) -> None:
    """A memo file damaged or planted with arrays of other types and shapes (found by a hostile
    probe: a report that is a JSON list, image names that are numbers)."""
    import zlib

    import numpy as np

    from curalog.validate.cache import MEMO_NAME

    root, later = _project(tmp_path)
    memo = root / "data" / MEMO_NAME
    good = dict(np.load(memo))
    plants = {
        "report a list": {"memo_report_z": np.frombuffer(zlib.compress(b"[1, 2]"), np.uint8)},
        "report not JSON": {"memo_report_z": np.frombuffer(zlib.compress(b"{"), np.uint8)},
        "images numbers": {"memo_images": np.arange(3)},
        "folders 2-d": {"memo_folders": np.zeros((2, 2))},
        "snapshot wrong": {"resume_crop_box": np.zeros((3, 3)), "resume_sel_line": np.arange(5.0)},
        "snapshot of another run": {"resume_id": np.array("0123")},
        "logs not JSON": {"resume_logs": np.frombuffer(b"\xff\x00", np.uint8)},
    }
    _append(root, later)
    for name, arrays in plants.items():
        with open(memo, "wb") as fh:
            np.savez(fh, **{**good, **arrays})
        report = validate(root)
        assert _same(report, full := validate(root, use_cache=False)) == full.to_json(indent=True), name


def test_a_header_appended_to_an_empty_log_is_judged_once(tmp_path: Path) -> None:
    """Found by a hostile probe: a log empty at the last run gets a header that lacks a column,
    then more lines; the header's finding stays on line 1, once, night after night."""
    root, _later = _project(tmp_path)
    (root / SEL).write_bytes(b"")
    validate(root)
    _append(
        root, {SEL: "timestamp,session_id,set_id,directory,negative_paths\n2025-10-02T14:03:11,s,set_0,,[]\n"}
    )
    for night in range(3):
        report = validate(root)  # the first night judges the new lines (the header: not read)
        full = _reference(root)
        assert _same(report, full) == full.to_json(indent=True), night
        assert sum(f.code == "row.malformed" and f.source.endswith("selection_only_log.csv")
                   for f in report.findings) == 1  # fmt: skip
        _append(root, {SEL: f"2025-10-02T14:03:11,s,set_{night + 1},,[]\n"})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_the_hashes_kept_for_linking_by_content_are_those_of_sound_lines(rng: random.Random) -> None:
    """The snapshot keeps the hashes ``by_content`` links an unindexed image by, computed in C
    loops over the index lines; read the plain way here: a line whose vector file is on disk,
    without a problem, of the length the line says (or it says none)."""
    from curalog.config import load_config
    from curalog.validate.engine import collect

    with tempfile.TemporaryDirectory(prefix="curalog-test-resume-") as tmp:
        root = Path(tmp)
        generate(root, rng)
        inputs = collect(load_config(root)).inputs
        vectors = inputs.vectors
        expected = set()
        for ref in inputs.lines.refs:
            on_disk = ref.hash in vectors.files and not vectors.problem.get(ref.hash)
            if on_disk and (ref.dim is None or ref.dim == vectors.length[ref.hash]):
                expected.add(ref.hash)
        embedded = inputs.embedded
        embedded._sound_by_hash = None  # the vectorized path, as capture takes it
        assert set(embedded.sound_line_hashes()) == expected
        assert set(embedded._sound_lines()) == expected  # the look-up by_content builds


def test_an_image_name_that_is_not_utf8_survives_the_snapshot(tmp_path: Path) -> None:
    """The listing is kept as text: a file name that is not UTF-8 (surrogate escapes) comes back
    as the same name, and an appended line naming it the only way a UTF-8 log can (its bad byte
    replaced) is judged as a full run judges it."""
    import os
    import shutil

    root, later = _project(tmp_path)
    folder = root / "mojo1" / "selected"
    folder.mkdir(parents=True, exist_ok=True)
    some = next(p for p in root.rglob("*.png") if "data" not in p.parts)
    shutil.copyfile(some, os.fsencode(folder) + b"/caf\xe9.png")
    validate(root)  # a full run: a folder changed
    name = os.fsdecode(b"caf\xe9.png")
    line = f"2025-11-01T09:00:00,s9,set_9,mojo1/selected,{name.encode('utf-8', 'replace').decode()},[]\n"
    n = _append(root, {**later, SEL: later[SEL] + line})
    from curalog.validate.cache import CACHE_NAME, ValidateCache
    from curalog.validate.snapshot import unpack

    kept = ValidateCache(root / "data" / CACHE_NAME).load_resume()
    assert "mojo1/selected/" + name in unpack(kept["listing"])
    report = validate(root)
    assert report.appended == n
    assert _same(report, full := _reference(root)) == full.to_json(indent=True)


@settings(max_examples=100, deadline=None)
@given(
    content=st.binary(max_size=300) | st.sampled_from([b"", b"\n", b"a\r\n", b"x" * 70]), big=st.booleans()
)
def test_a_log_scanned_in_chunks_reads_as_read_whole(content: bytes, big: bool) -> None:
    """The log states a full run keeps are taken a chunk at a time (4 MB): the same size, sha256,
    lines and last byte as reading the whole file (a log over a chunk, with a line across the
    boundary, too)."""
    import hashlib

    from curalog.validate.snapshot import _scanned, read_log

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_bytes((b"a,b\n" * (1 << 20) + b"c" if big else b"") + content)  # 4 MB + 1: across
        data, ident = read_log(path)
        assert _scanned(path) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
            data.count(b"\n"),
            not data or data.endswith(b"\n"),
            ident,
        )
        assert _scanned(Path(tmp) / "missing.csv")[4] is None


def test_other_files_in_the_vector_folder_keep_the_memo_and_a_temp_file_does_not(tmp_path: Path) -> None:
    """A README, a ``.DS_Store`` or a subfolder among the vector files is in no report, so it
    changes nothing: the next run reuses the last result, and appended lines are judged alone.
    A temp file left by an interrupted write is a finding: its coming is a change."""
    from tests.project_gen import EMB

    generate(tmp_path, random.Random(8), max_images=10, max_rows=12)
    validate(tmp_path)
    emb = tmp_path / EMB
    (emb / "README.txt").write_text("vectors of the curation project\n")
    (emb / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (emb / "old").mkdir()
    assert validate(tmp_path).reused
    log = tmp_path / SEL
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines) + lines[-1])
    grown = validate(tmp_path)
    assert grown.appended == 1
    reference = _reference(tmp_path)
    assert _same(grown, reference) == reference.to_json(indent=True)
    (emb / f".curalog-tmp-123-abcd-{'0' * 64}.npy").write_bytes(b"half")
    after = validate(tmp_path)
    assert not after.reused and not after.appended
    assert "embedding.orphan_file" in after.by_code


def test_a_line_appended_while_a_full_run_ends_is_judged_next_time(tmp_path: Path, monkeypatch) -> None:
    """A line the cron job's logger appends just after the run read the logs (while it writes its
    memo) is in no memo that says it was judged: the next run judges it."""
    from curalog.validate import engine

    generate(tmp_path, random.Random(11), max_images=10, max_rows=12)
    log = tmp_path / SEL
    lines = log.read_bytes().splitlines(keepends=True)
    real = engine.rest_signature

    def appending(*args, **kwargs):  # called once the run checked that nothing changed
        if log.read_bytes().count(b"\n") == len(lines):
            log.write_bytes(b"".join(lines) + lines[-1])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "rest_signature", appending)
    first = validate(tmp_path)
    monkeypatch.setattr(engine, "rest_signature", real)
    after = validate(tmp_path)
    reference = _reference(tmp_path)
    assert after.selections == first.selections + 1 == reference.selections
    assert _same(after, reference) == reference.to_json(indent=True)
