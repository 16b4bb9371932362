from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import curalog
from curalog.project import Project
from tests.conftest import INTEGRITY, SET0, SET1, make_image, rotated_jpeg

pytestmark = pytest.mark.usefixtures("both_backends")


def codes(exc: pytest.ExceptionInfo[curalog.DecisionRejected]) -> list[str]:
    return sorted(p.code for p in exc.value.problems)


def test_crop_round_trip_with_measured_sizes(embedded: Project) -> None:
    with embedded.session(tool="multi_crop") as s:
        did = s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 400), ["s1", "s2", "s3"])
    d = embedded.ledger.decision(did)
    assert d.kind == "crop" and d.set_id == "set0" and d.project == "mojo1"
    assert d.session_id == s.id and d.chosen_idx == 1
    assert [c.path for c in d.candidates] == SET0
    assert [c.stage for c in d.candidates] == ["s1", "s2", "s3"]
    assert all((c.width, c.height) == (640, 480) for c in d.candidates)
    assert d.box == (10.0, 20.0, 300.0, 400.0)
    assert d.box_normalized == (10 / 640, 20 / 480, 300 / 640, 400 / 480)
    assert len(d.chosen.hash) == 64
    row = embedded.db.conn.execute("SELECT tool, ended_at FROM sessions WHERE id = ?", (s.id,)).fetchone()
    assert row["tool"] == "multi_crop" and row["ended_at"]


def test_selection_round_trip(embedded: Project) -> None:
    with embedded.session() as s:
        did = s.log_selection("set1", "mojo1/selected", ["set1_stage1.png", "set1_stage2.png"], 0)
    d = embedded.ledger.decision(did)
    assert d.kind == "selection" and d.box is None
    assert [c.path for c in d.candidates] == SET1[:2]


def test_every_problem_is_reported_and_nothing_stored(embedded: Project, count_rows) -> None:
    before = count_rows(embedded)
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop(
            "set0", "mojo1/selected", [SET0[0], "mojo1/nowhere/zzz.png", SET0[2]], 0,
            (500, 10, 20, 30), image_sizes=[(640, 480), (640, 480), (0, 0)],
        )  # fmt: skip
    assert codes(exc) == ["crop.invalid_box", "crop.zero_dimensions", "path.unresolved"]
    assert "zzz.png" in str(exc.value) and "0x0" in str(exc.value)
    assert isinstance(exc.value, ValueError)
    assert count_rows(embedded) == before


@pytest.mark.parametrize(
    "box,sizes,code",
    [
        ((0.0, 0.0, 1.0, 1.0), None, "crop.placeholder"),
        ((0, 0, 640, 480), None, "crop.placeholder"),
        ((100, 10, 50, 30), None, "crop.invalid_box"),
        ((10, 10, 10, 30), None, "crop.invalid_box"),
        ((-5, 10, 50, 30), None, "crop.invalid_box"),
        ((float("nan"), 10, 50, 30), None, "crop.invalid_box"),
        ((10, 10, float("inf"), 30), None, "crop.invalid_box"),
        ((10, 10, 50), None, "crop.invalid_box"),
        (("a", 10, 50, 30), None, "crop.invalid_box"),
        ((10, 10, 641, 30), None, "crop.out_of_bounds"),
        ((10, 10, 50, 481), None, "crop.out_of_bounds"),
        ((10, 10, 50, 30), [(640, 480), (0, 0), (640, 480)], "crop.zero_dimensions"),
        ((10, 10, 50, 30), [(640, 480), (-1, 480), (640, 480)], "crop.zero_dimensions"),
        ((10, 10, 50, 30), [(640, 480), (640, 481), (640, 480)], "crop.dimension_mismatch"),
        ((10, 10, 50, 30), [(640, 480), (640.5, 480), (640, 480)], "crop.zero_dimensions"),
    ],
)
def test_each_rule(embedded: Project, count_rows, box, sizes, code) -> None:
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("set0", "mojo1/selected", SET0, 1, box, image_sizes=sizes)
    assert codes(exc) == [code]
    assert count_rows(embedded) == (0, 0)


@pytest.mark.parametrize("idx", [-1, 3, 7, "1", True, 1.0])
def test_chosen_index_out_of_range(embedded: Project, idx) -> None:
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("set0", "mojo1/selected", SET0, idx, (10, 10, 50, 50))
    assert "row.malformed" in codes(exc)


def test_bad_idx_still_reports_box_shape(embedded: Project) -> None:
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("set0", "mojo1/selected", SET0, 9, (50, 10, 20, 30))
    assert codes(exc) == ["crop.invalid_box", "row.malformed"]


def test_structural_problems(embedded: Project) -> None:
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("", "mojo1/selected", SET0, 0, (1, 1, 5, 5), ["a"], [(640, 480)])
    assert codes(exc).count("row.malformed") == 3  # set id, stages length, sizes length
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_selection("x", "mojo1/selected", [], 0)
    assert codes(exc) == ["row.malformed", "row.malformed"]


def test_ambiguous_path_refused_with_candidates(embedded: Project, root: Path) -> None:
    make_image(root / "mojo2" / "crop" / "set0_stage1.png")
    embedded.paths.forget()
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_selection("set0", "", ["old/set0_stage1.png", SET0[1]], 1)
    assert codes(exc) == ["path.ambiguous"]
    assert "mojo2/crop/set0_stage1.png" in str(exc.value) and SET0[0] in str(exc.value)


def test_path_escape_refused(embedded: Project, root: Path) -> None:
    make_image(root.parent / "outside.png")
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_selection("set0", "", ["../outside.png", SET0[1]], 1)
    assert codes(exc) == ["path.unresolved"] and "outside the project root" in str(exc.value)


def test_crop_needs_embedding_by_default(project: Project, count_rows) -> None:
    with project.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
    assert codes(exc) == ["decision.no_embedding"]
    assert f"curalog embed {SET0[0]}" in str(exc.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with project.session() as s:
            did = s.log_selection("set0", "mojo1/selected", SET0, 0)
    assert any("decision.no_embedding" in str(w.message) for w in caught)
    assert project.ledger.decision(did).kind == "selection"


def test_missing_vector_file_is_named(embedded: Project) -> None:
    digest = embedded.facts.get(SET0[2]).sha256
    embedded.embeddings.vector_path(digest).unlink()
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_crop("set0", "mojo1/selected", SET0, 2, (1, 1, 50, 50))
    assert "is gone" in str(exc.value)


@pytest.mark.parametrize("policy,crop_ok,selection", [("all", False, "reject"), ("off", True, "quiet")])
def test_policies(root: Path, policy: str, crop_ok: bool, selection: str) -> None:
    toml = (
        (root / "curalog.toml")
        .read_text()
        .replace('require_embedding = "crop"', f'require_embedding = "{policy}"')
    )
    (root / "curalog.toml").write_text(toml)
    with curalog.open_project(root) as p, p.session() as s:
        if crop_ok:
            assert s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50)) > 0
        else:
            with pytest.raises(curalog.DecisionRejected):
                s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if selection == "reject":
                with pytest.raises(curalog.DecisionRejected, match="no_embedding"):
                    s.log_selection("set0", "mojo1/selected", SET0, 0)
            else:
                assert s.log_selection("set0", "mojo1/selected", SET0, 0) > 0


def test_normalized_coordinates_are_converted(embedded: Project) -> None:
    with embedded.session() as s:
        did = s.log_crop("set0", "mojo1/selected", SET0, 0, (0.25, 0.5, 0.75, 1.0))
    d = embedded.ledger.decision(did)
    assert d.box == (160.0, 240.0, 480.0, 480.0)
    assert d.box_normalized == (0.25, 0.5, 0.75, 1.0)


def test_exif_rotated_image_uses_the_seen_size(root: Path) -> None:
    rotated_jpeg(root / "mojo1" / "rot" / "r_stage1.jpg", (80, 40), 6)
    with curalog.open_project(root) as p:
        p.embed(["mojo1/rot/r_stage1.jpg"])
        with p.session() as s:
            with pytest.raises(curalog.DecisionRejected) as exc:
                s.log_crop("r", "mojo1/rot", ["r_stage1.jpg"], 0, (1, 1, 30, 70), image_sizes=[(80, 40)])
            assert codes(exc) == ["crop.dimension_mismatch"] and "40x80" in str(exc.value)
            did = s.log_crop("r", "mojo1/rot", ["r_stage1.jpg"], 0, (1, 1, 30, 70), image_sizes=[(40, 80)])
        assert (p.ledger.decision(did).chosen.width, p.ledger.decision(did).chosen.height) == (40, 80)


def test_duplicate_is_stored_once(embedded: Project, count_rows) -> None:
    with embedded.session() as s:
        first = s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
        with pytest.warns(curalog.DecisionWarning, match="row.duplicate"):
            again = s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
        other = s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 51))
    assert first == again and other != first
    assert count_rows(embedded) == (2, 6)


def test_index_only_candidate(embedded: Project, root: Path) -> None:
    (root / SET0[2]).unlink()
    embedded.paths.forget()
    with embedded.session() as s:
        with pytest.raises(curalog.DecisionRejected) as exc:
            s.log_selection("set0", "mojo1/selected", SET0, 0)
        assert codes(exc) == ["image.missing"]
        did = s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50), image_sizes=[(640, 480)] * 3)
    assert embedded.ledger.decision(did).candidates[2].path == SET0[2]


def test_unreadable_candidate(embedded: Project, root: Path) -> None:
    (root / SET0[1]).write_bytes(b"garbage")
    with embedded.session() as s, pytest.raises(curalog.DecisionRejected) as exc:
        s.log_selection("set0", "mojo1/selected", SET0, 0)
    assert codes(exc) == ["image.unreadable"] and SET0[1] in str(exc.value)


def test_seed_signature(embedded: Project, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root / "mojo1")
    did = curalog.log_select_crop_entry(
        session_id="20251002_140233", set_id="set_0042", directory="mojo1/selected",
        image_paths=[f"/Users/someone/curation/{p}" for p in SET0], image_stages=["a", "b", "c"],
        image_sizes=[(640, 480)] * 3, chosen_idx=2, crop_coords=(100, 100, 600, 400),
    )  # fmt: skip
    d = embedded.ledger.decision(did)
    assert d.session_id == "20251002_140233" and d.chosen.path == SET0[2]
    with pytest.raises(curalog.DecisionRejected, match="zero_dimensions"):
        curalog.log_select_crop_entry(
            "20251002_140233", "set_0042", "mojo1/selected", SET0, None, [(0, 0)] * 3, 2,
            (100, 100, 1787, 900), root=root,
        )  # fmt: skip


BAD_ROWS = {
    "zero size": "chosen_width = 0",
    "inverted box": "crop_x2 = 5",
    "placeholder": "crop_x1 = 0, crop_y1 = 0, crop_x2 = 640, crop_y2 = 480, norm_x1 = 0, "
    "norm_y1 = 0, norm_x2 = 1, norm_y2 = 1",
    "box outside": "crop_x2 = 700, norm_x2 = 1.0",
    "index out of range": "chosen_idx = 3",
    "negative index": "chosen_idx = -1",
    "NaN box": "crop_x1 = NULL",
    "absolute path": "chosen_path = '/abs/x.png'",
    "bad hash": "chosen_hash = 'zz'",
    "selection with box": "kind = 'selection'",
}


@pytest.mark.parametrize("change", BAD_ROWS.values(), ids=list(BAD_ROWS))
def test_check_constraints_refuse_bad_rows_even_without_python(embedded: Project, change: str) -> None:
    with embedded.session() as s:
        did = s.log_crop("set0", "mojo1/selected", SET0, 0, (10, 10, 50, 50))
    conn = embedded.db.conn
    with pytest.raises(INTEGRITY):
        conn.execute(f"UPDATE decisions SET {change} WHERE id = ?", (did,))
    assert embedded.ledger.decision(did).box == (10.0, 10.0, 50.0, 50.0)


def test_candidate_trigger_refuses_inconsistent_rows(embedded: Project) -> None:
    with embedded.session() as s:
        did = s.log_selection("set0", "mojo1/selected", SET0[:2], 0)
    conn = embedded.db.conn
    d = embedded.ledger.decision(did)
    with pytest.raises(INTEGRITY, match="out of range"):
        conn.execute(
            "INSERT INTO candidates VALUES (?, 2, 'mojo1/x.png', ?, NULL, 5, 5)", (did, d.chosen.hash)
        )
    conn.execute("DELETE FROM candidates WHERE decision_id = ? AND idx = 0", (did,))
    with pytest.raises(INTEGRITY, match="disagrees"):
        conn.execute(
            "INSERT INTO candidates VALUES (?, 0, ?, ?, NULL, 1, 1)", (did, d.chosen.path, d.chosen.hash)
        )
    for bad in ("0, 5", "5, 0"):
        with pytest.raises(INTEGRITY):
            conn.execute(
                f"INSERT INTO candidates VALUES (?, 1, 'mojo1/y.png', ?, NULL, {bad})", (did, "a" * 64)
            )


def test_undo_adds_a_retraction_and_readers_leave_the_decision_out(embedded: Project, count_rows) -> None:
    from curalog.validate.engine import validate

    with embedded.session() as s:
        kept = s.log_crop("set0", "mojo1/selected", SET0, 0, (1, 1, 50, 50))
        undone = s.log_selection("set1", "mojo1/selected", SET1, 2)
        s.undo(undone)
        with pytest.raises(ValueError, match="already retracted"):
            s.undo(undone)
        with pytest.raises(KeyError):
            s.undo(999)
        # the same decision made again after the undo is a new row, not the retracted one
        again = s.log_selection("set1", "mojo1/selected", SET1, 2)
    assert again not in (kept, undone)
    assert count_rows(embedded) == (3, 9)  # nothing deleted
    assert [d.id for d in embedded.ledger.decisions()] == [kept, again]
    assert [d.id for d in embedded.ledger.decisions(retracted=True)] == [kept, undone, again]
    assert embedded.ledger.decision(undone).kind == "selection"
    assert embedded.ledger.count() == 2 and embedded.ledger.count("selection") == 1
    row = embedded.db.conn.execute("SELECT * FROM retractions").fetchone()
    assert row["decision_id"] == undone and row["session_id"] and row["reason"]
    report = validate(embedded.root)
    assert (report.selections, report.crops) == (1, 1)
    with pytest.raises(INTEGRITY), embedded.db.write() as conn:
        conn.execute("INSERT INTO retractions VALUES (?, ?, '', 'now')", (kept, "x"))
