from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from curalog.validate import validate
from curalog.validate.render import render_json, render_text
from tests.legacy_project import CROP, EMB, INDEX, SEL, build

pytestmark = pytest.mark.usefixtures("both_backends")


@pytest.fixture
def legacy(tmp_path: Path):
    root = tmp_path / "legacy"
    planted = build(root)
    return root, planted


def _key(f) -> tuple:
    source = EMB if f.source == EMB else f.source
    return (f.code, source, f.line)


def test_reports_exactly_what_was_planted(legacy) -> None:
    root, planted = legacy
    report = validate(root)
    found = {_key(f) for f in report.findings}
    assert found == planted.findings, (found - planted.findings, planted.findings - found)
    assert len(report.findings) == len(planted.findings)  # one finding per planted defect


def test_summary_counts(legacy) -> None:
    root, planted = legacy
    report = validate(root)
    assert report.selections == planted.selections and report.crops == planted.crops
    assert report.usable_selections == planted.usable_selections
    assert report.usable_crops == planted.usable_crops
    assert report.embedding_files == len(list((root / EMB).glob("*.npy")))
    assert report.index_entries == len((root / INDEX).read_text().splitlines())
    assert report.exit_code() == 1


def test_every_finding_is_explained(legacy) -> None:
    root, _ = legacy
    for f in validate(root).findings:
        assert f.message and f.fix and f.severity in ("error", "warning")
        if f.source in (SEL, CROP):
            assert f.line and f.line >= 2
        if f.code == "decision.no_embedding" and f.source == CROP:
            assert f.severity == "error" and f.fix == f"curalog embed {f.path}"
            assert f.project == "mojo2"
    messages = {f.code: f.message for f in validate(root).findings if f.source == CROP}
    assert "0x0" in messages["crop.zero_dimensions"]


def test_no_embedding_says_which_reason(legacy) -> None:
    root, _ = legacy
    reasons = {f.path: f.message for f in validate(root).findings if f.code == "decision.no_embedding"}
    assert "no index line names it" in reasons["mojo1/selected/never_embedded.png"]
    assert "is gone" in reasons["mojo2/crop/vector_gone.png"]
    assert "corrupt" in reasons["mojo2/crop/vector_nan.png"]
    sel = [f for f in validate(root).findings if f.code == "decision.no_embedding" and f.source == SEL]
    assert [f.severity for f in sel] == ["warning"] * 2


def test_json_report_shape(legacy) -> None:
    root, planted = legacy
    data = json.loads(render_json(validate(root)))
    assert set(data) == {"root", "generated_at", "summary", "findings", "recommendations"}
    assert set(data["summary"]) == {
        "selections", "crops", "index_entries", "embedding_files", "usable_selections",
        "usable_crops", "errors", "warnings", "by_code",
    }  # fmt: skip
    assert sum(data["summary"]["by_code"].values()) == len(data["findings"]) == len(planted.findings)
    assert set(data["findings"][0]) == {
        "code",
        "severity",
        "source",
        "line",
        "project",
        "path",
        "message",
        "fix",
    }
    assert data["generated_at"].endswith("Z")
    assert "curalog embed --missing" in data["recommendations"]


def test_text_report_has_the_seed_shape(legacy) -> None:
    root, _ = legacy
    text = render_text(validate(root))
    assert text.startswith("=== TRAINING DATA VALIDATION REPORT ===")
    for needle in ("✅ Selection data:", "✅ Crop data:", "⚠️  WARNINGS", "❌ ERRORS", "🔧 RECOMMENDATIONS",
                   "crop entries with dimensions = (0, 0) (mojo2)", f"{CROP}:"):  # fmt: skip
        assert needle in text, needle
    assert text.index("⚠️  WARNINGS") < text.index("❌ ERRORS") < text.index("🔧 RECOMMENDATIONS")


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "curalog-validate-cache" not in p.name
    }


def test_validation_is_read_only(legacy) -> None:
    root, _ = legacy
    before = _snapshot(root)
    validate(root)
    validate(root, deep=True)
    assert _snapshot(root) == before
    created = {p.name for p in root.rglob("*") if p.is_file()} - {Path(k).name for k in before}
    assert created <= {"curalog-validate-cache.npz", "curalog-validate-cache-memo.npz",
                       "curalog-validate-cache-snapshot.npz"}  # fmt: skip


def test_repeat_run_uses_the_cache_and_sees_changes(legacy) -> None:
    root, _ = legacy
    first = validate(root)
    assert (root / "data" / "curalog-validate-cache.npz").is_file()
    again = validate(root)
    assert [f.to_dict() for f in again.findings] == [f.to_dict() for f in first.findings]
    # a vector file changed since the cached check is read again
    clean = next(f for f in (root / EMB).glob("*.npy") if f.stat().st_size > 0 and f.name not in {
        g.path.rsplit("/", 1)[-1] for g in first.findings if g.code.startswith("embedding.")})  # fmt: skip
    clean.write_bytes(clean.read_bytes()[:40])
    third = validate(root)
    assert any(f.code == "embedding.corrupt" and clean.name in f.path for f in third.findings)


def test_deep_finds_stale_vectors(legacy) -> None:
    root, _ = legacy
    target = root / "mojo1/selected/c_stage1.png"
    data = target.read_bytes()
    target.write_bytes(data + b"\0")  # same picture, other bytes
    os.utime(target)
    assert not any(f.code == "embedding.stale" for f in validate(root).findings)
    stale = [f for f in validate(root, deep=True).findings if f.code == "embedding.stale"]
    assert [(f.source, f.path) for f in stale] == [(INDEX, "mojo1/selected/c_stage1.png")]


def test_since_filters_decisions(legacy) -> None:
    root, _ = legacy
    report = validate(root, since="2026-01-01")
    assert report.usable_selections == 0 and report.usable_crops == 0
    assert not any(f.code.startswith("crop.") for f in report.findings)


def test_a_legacy_only_root_needs_no_config(legacy) -> None:
    root, _ = legacy
    assert not (root / "curalog.toml").exists()
    assert validate(root).crops > 0


def _codes(report) -> list[tuple[str, str, int | None]]:
    return sorted((f.code, f.path, f.line) for f in report.findings)


def test_unchanged_inputs_reuse_the_last_result(legacy) -> None:
    root, _ = legacy
    first = validate(root)
    again = validate(root)
    assert not first.reused and again.reused
    assert _codes(again) == _codes(first) and again.usable_crops == first.usable_crops
    assert not validate(root, deep=True).reused  # --deep always re-hashes


def test_any_changed_input_invalidates_the_reused_result(legacy) -> None:
    root, _ = legacy
    validate(root)
    # a new log line
    with open(root / SEL, "a", encoding="utf-8") as fh:
        fh.write("2025-10-05T10:00:00,x,s99,mojo1/selected,mojo1/selected/late_ghost.png,[]\n")
    r = validate(root)
    assert not r.reused and any(f.path == "mojo1/selected/late_ghost.png" for f in r.findings)
    assert validate(root).reused
    # an image deleted (its folder changes)
    (root / "mojo1/selected/c_stage1.png").unlink()
    r = validate(root)
    assert not r.reused and any(f.code == "image.missing" and "c_stage1" in f.path for f in r.findings)
    assert validate(root).reused
    # a measured crop image rewritten in place with another size
    from PIL import Image

    target = root / "mojo1/crop/clean_px.png"
    Image.new("RGB", (65, 48), "red").save(target)
    r = validate(root)
    assert not r.reused and any(
        f.code == "crop.dimension_mismatch" and "clean_px" in f.path for f in r.findings
    )
    # a vector file rewritten
    assert validate(root).reused
    vec = next(p for p in (root / EMB).glob("*.npy"))
    vec.write_bytes(vec.read_bytes()[:30])
    r = validate(root)
    assert not r.reused and any(f.code == "embedding.corrupt" and vec.name in f.path for f in r.findings)


def test_ledger_changes_invalidate_the_reused_result(tmp_path: Path) -> None:
    import curalog
    from tests.conftest import make_image

    root = tmp_path / "p"
    paths = [f"mojo1/s/img_{i}.png" for i in range(3)]
    for i, p in enumerate(paths):
        make_image(root / p, (40, 30), (i * 80, 10, 10))
    curalog.init_project(root)
    with curalog.open_project(root) as p:
        assert p.embed(paths).ok
        with p.session() as s:
            s.log_selection("a", "mojo1/s", paths, 0)
    assert validate(root).selections == 1
    assert validate(root).reused
    with curalog.open_project(root) as p, p.session() as s:
        s.log_crop("b", "mojo1/s", paths, 1, (1, 1, 20, 20))
    r = validate(root)
    assert not r.reused and (r.selections, r.crops) == (1, 1)


def test_html_report_is_self_contained(legacy) -> None:
    import re

    from curalog.validate.render import render_html

    root, planted = legacy
    report = validate(root)
    page = render_html(report)
    assert page.startswith("<!doctype html>")
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from a network
    codes = {code for code, _, _ in planted.findings}
    assert page.count('<input class="filter"') == len(codes)
    for code in codes:
        assert f'<section id="{code}">' in page
    assert page.count('<tr><td class="where">') == len(planted.findings)
    assert "curalog embed --missing" in page and "addEventListener" in page
    assert "&lt;" not in report.root  # paths are escaped by the template, not pre-escaped


def test_vectors_checked_in_a_child_give_the_same_report(legacy, monkeypatch) -> None:

    root, _ = legacy
    monkeypatch.setattr(os, "cpu_count", lambda: 1)  # no child at all: every check in this process
    inline = validate(root, use_cache=False).to_dict()
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    forked = validate(root, use_cache=False).to_dict()
    for report in (inline, forked):
        report.pop("generated_at")
    assert forked == inline


def test_repeats_are_judged_among_clean_and_warning_only_rows_in_line_order(legacy) -> None:
    """Selections are validated in bulk when they have no finding; a repeat must still be found
    whether its first copy was clean or had only a warning, and name that first line."""
    root, planted = legacy
    log = root / SEL
    lines = log.read_text().splitlines()
    warned = next(n for n, text in enumerate(lines, start=1) if "never_embedded" in text)
    clean = next(n for n, text in enumerate(lines, start=1) if "/b_stage1.png" in text)
    with open(log, "a") as fh:
        fh.write(lines[warned - 1] + "\n")  # a repeat of a row with a warning (no embedding)
        fh.write(lines[clean - 1] + "\n")  # a repeat of a clean row
    report = validate(root, use_cache=False)
    repeats = {f.line: f.message for f in report.findings if f.code == "row.duplicate" and f.source == SEL}
    planted_repeats = {
        line for code, source, line in planted.findings if code == "row.duplicate" and source == SEL
    }
    assert set(repeats) == planted_repeats | {len(lines) + 1, len(lines) + 2}
    assert f"line {warned}" in repeats[len(lines) + 1] and f"line {clean}" in repeats[len(lines) + 2]
    assert report.usable_selections == planted.usable_selections  # a repeat is never used twice
    assert report.selections == planted.selections + 2


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e400"])
def test_a_non_finite_count_or_index_is_a_malformed_line(tmp_path: Path, bad: str) -> None:
    from tests.legacy_project import CROP_HEADER

    log = tmp_path / CROP
    log.parent.mkdir(parents=True)
    fields = ["2025-10-02T14:03:11", "s", "c", "mojo1", "1", "0", "mojo1/a.png", "1", "1", "5", "5",
              "mojo1/a.png", "s", "10", "10"] + [""] * 12  # fmt: skip
    rows = []
    for at in (4, 5):  # image_count, chosen_index
        row = list(fields)
        row[at] = bad
        rows.append(",".join(row))
    log.write_text(",".join(CROP_HEADER) + "\n" + "\n".join(rows) + "\n")
    report = validate(tmp_path, use_cache=False)
    assert [(f.code, f.line) for f in report.findings] == [("row.malformed", 2), ("row.malformed", 3)]


def test_image_names_that_are_not_utf8_are_measured_hashed_and_cached(tmp_path: Path) -> None:
    """A file copied from a Samba share with a Latin-1 name: two of them share the name, so the
    index line written without the subfolder is settled by hashing them, and a crop reads the
    header of one. The cache keeps both (a second run reuses the result)."""
    import hashlib

    from PIL import Image

    from tests.legacy_project import CROP_HEADER

    name = os.fsdecode(b"caf\xe9.png")  # not UTF-8: a surrogate escape in Python
    for folder, colour in (("mojo1/selected", "red"), ("mojo1/crop", "blue")):
        (tmp_path / folder).mkdir(parents=True)
        Image.new("RGB", (20, 10), colour).save(tmp_path / folder / name, format="PNG")
    digest = hashlib.sha256((tmp_path / "mojo1/selected" / name).read_bytes()).hexdigest()
    emb = tmp_path / EMB
    emb.mkdir(parents=True)
    import numpy as np

    np.save(emb / f"{digest}.npy", np.ones(8, np.float32))
    index = tmp_path / INDEX
    line = json.dumps({"image_path": f"mojo1/{name}", "hash": digest, "embedding_dim": 8}, ensure_ascii=True)
    index.write_text(line + "\n")  # JSON escapes the name as \udce9, json.loads gives it back
    crop = tmp_path / CROP
    chosen = f"mojo1/selected/{name}"
    row = ["2025-10-02T14:03:11", "s", "c", "mojo1/selected", "1", "0", chosen, "1", "1", "9", "9",
           chosen, "s", "20", "10"] + [""] * 12  # fmt: skip
    crop.parent.mkdir(parents=True)
    crop.write_bytes((",".join(CROP_HEADER) + "\n" + ",".join(row) + "\n").encode("utf-8", "surrogateescape"))
    first = validate(tmp_path)
    again = validate(tmp_path)
    assert first.crops == 1 and again.reused
    assert [f.code for f in again.findings] == [f.code for f in first.findings]


@pytest.mark.parametrize("garbage", [b"PK\x03\x04cut short", b"PK", b"\x93NUMPY\x01\x00"])
def test_a_cache_cut_short_is_ignored(legacy, garbage: bytes) -> None:
    """A zip header with nothing behind it (a copy cut short, a full disk) only makes the run
    slower: the report is the one a run without any cache gives."""
    from curalog.validate.cache import CACHE_NAME

    root, _ = legacy
    clean = validate(root, use_cache=False)
    (root / "data" / CACHE_NAME).write_bytes(garbage)
    again = validate(root)
    assert sorted(map(_key, again.findings)) == sorted(map(_key, clean.findings))
