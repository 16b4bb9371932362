"""Label Studio export and import. The files curalog writes are checked by Label Studio's own SDK
(``LabelInterface``, in a venv of its own: see the Makefile); the import fixtures are written in the
shape Label Studio's JSON export has (its docs and SDK): upload-prefixed and local-files paths,
``rectanglelabels`` with ``original_width/height``, cancelled annotations, rotated boxes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import curalog
from curalog.errors import ConfigError
from curalog.interop.intake import local_path
from curalog.interop.labelstudio import export_labelstudio, import_labelstudio
from curalog.project import Project
from tests.conftest import SET0, SET1, make_image, rotated_jpeg

pytestmark = pytest.mark.usefixtures("both_backends")
ROOT = Path(__file__).resolve().parents[1]
SDK_PYTHON = ROOT / ".venv-labelstudio" / "bin" / "python"


def sdk_check(folder: Path, tasks: str = "tasks.json") -> subprocess.CompletedProcess:
    """Label Studio's SDK validates the config and every task and annotation of an export."""
    assert SDK_PYTHON.exists(), "run `make test` (it installs label-studio-sdk into .venv-labelstudio)"
    return subprocess.run(
        [
            str(SDK_PYTHON),
            str(ROOT / "tests" / "labelstudio_sdk_check.py"),
            str(folder / "config.xml"),
            str(folder / tasks),
        ],
        capture_output=True,
        text=True,
    )


def _decide(p: Project) -> dict[str, int]:
    with p.session(tool="t") as s:
        crop = s.log_crop("set0", "mojo1/selected", SET0, 1, (10.5, 20, 300.25, 200))
        sel = s.log_selection("set1", "mojo1/selected", SET1, 2)
        gone = s.log_crop("set1", "mojo1/selected", SET1, 0, (5, 5, 100, 100))
        s.undo(gone, "wrong")
    return {"crop": crop, "selection": sel}


def test_the_export_is_valid_for_label_studio_and_reconciles(embedded: Project, tmp_path: Path) -> None:
    ids = _decide(embedded)
    out = export_labelstudio(embedded, tmp_path / "ls")
    assert (out.decisions, out.written, out.left_out) == (2, 2, []) and out.reconciles
    checked = sdk_check(tmp_path / "ls")
    assert (checked.returncode, checked.stdout.strip()) == (0, "ok 2"), checked.stdout + checked.stderr
    broken = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    broken[0]["annotations"][0]["result"][0]["value"]["choices"] = ["image9"]  # no such image
    (tmp_path / "ls" / "broken.json").write_text(json.dumps(broken))
    refused = sdk_check(tmp_path / "ls", "broken.json")
    assert refused.returncode == 1 and "Invalid value for control 'chosen'" in refused.stdout
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    crop = next(t for t in tasks if t["data"]["curalog"]["decision"] == ids["crop"])
    assert crop["data"]["image1"] == "/data/local-files/?d=" + SET0[1]
    choice, box = crop["annotations"][0]["result"]
    assert choice["value"] == {"choices": ["image1"]}
    assert (box["to_name"], box["original_width"], box["original_height"], box["image_rotation"]) == (
        "image1",
        640,
        480,
        0,
    )
    v = box["value"]
    assert (v["x"], v["y"], v["x"] + v["width"], v["y"] + v["height"]) == pytest.approx(
        (10.5 / 6.4, 20 / 4.8, 300.25 / 6.4, 200 / 4.8)
    )
    sel = next(t for t in tasks if t["data"]["curalog"]["decision"] == ids["selection"])
    assert [r["type"] for r in sel["annotations"][0]["result"]] == ["choices"]
    assert len(sel["data"]["curalog"]["candidates"]) == 3
    manifest = json.loads((tmp_path / "ls" / "curalog-export.json").read_text())
    assert manifest["account"]["reconciles"] and manifest["account"]["written"] == 2


def test_an_exif_rotated_portrait_is_in_percent_of_its_seen_size(project: Project, tmp_path: Path) -> None:
    rel = "mojo1/selected/portrait_stage1.jpg"
    rotated_jpeg(project.root / rel, stored=(80, 40), orientation=6)  # stored 80x40, seen 40x80
    project.paths.forget()
    assert project.embed([rel]).ok
    with project.session() as s:
        s.log_crop("portrait", "mojo1/selected", [rel], 0, (4, 8, 36, 72))
    export_labelstudio(project, tmp_path / "ls")
    [task] = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    box = task["annotations"][0]["result"][1]
    assert (box["original_width"], box["original_height"]) == (40, 80)
    assert (box["value"]["x"], box["value"]["width"]) == pytest.approx((10, 80))
    assert (box["value"]["y"], box["value"]["height"]) == pytest.approx((10, 80))


def test_the_export_folder_is_new_empty_or_an_earlier_export(embedded: Project, tmp_path: Path) -> None:
    _decide(embedded)
    with pytest.raises(ConfigError, match="project root"):
        export_labelstudio(embedded, embedded.root, force=True)
    with pytest.raises(ConfigError, match="own"):
        export_labelstudio(embedded, embedded.config.path("audit_dir"), force=True)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "tasks.json").write_text("my own tasks")
    with pytest.raises(ConfigError, match="holds no earlier"):
        export_labelstudio(embedded, mine, force=True)
    assert (mine / "tasks.json").read_text() == "my own tasks"
    export_labelstudio(embedded, tmp_path / "ls")
    (tmp_path / "ls" / "notes.txt").write_text("kept")
    with pytest.raises(ConfigError, match="--force"):
        export_labelstudio(embedded, tmp_path / "ls")
    export_labelstudio(embedded, tmp_path / "ls", force=True)  # replaces its own files only
    assert (tmp_path / "ls" / "notes.txt").read_text() == "kept"
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "curalog",
            "export",
            "labelstudio",
            str(mine),
            "--root",
            str(embedded.root),
            "--force",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and len(cli.stderr.strip().splitlines()) == 1


def _other(tmp_path: Path, source: Project, request, backend: str, monkeypatch) -> Project:
    other = tmp_path / "other"
    shutil.copytree(source.root / "mojo1", other / "mojo1")
    curalog.init_project(other)
    if backend == "postgres":  # the other project has a ledger of its own
        monkeypatch.setenv("CURALOG_DATABASE_URL", request.getfixturevalue("pg_server").new_database())
    return curalog.open_project(other)


def test_ledger_to_label_studio_to_ledger_gives_the_same_decisions(
    embedded: Project, tmp_path: Path, both_backends: str, request, monkeypatch
) -> None:
    _decide(embedded)
    export_labelstudio(embedded, tmp_path / "ls")
    with _other(tmp_path, embedded, request, both_backends, monkeypatch) as q:
        assert q.embed(SET0 + SET1).ok
        dry = import_labelstudio(q, tmp_path / "ls" / "tasks.json", dry_run=True)
        assert (dry.imported, q.ledger.count()) == (2, 0)
        got = import_labelstudio(q, tmp_path / "ls" / "tasks.json")
        assert (got.items, got.imported, got.refused, got.skipped) == (2, 2, [], []) and got.reconciles
        assert got.warned == {}
        again = import_labelstudio(q, tmp_path / "ls" / "tasks.json")
        assert (again.imported, again.already) == (0, 2) and q.ledger.count() == 2
        after = sorted(
            (d.kind, d.set_id, d.directory, d.chosen_idx, tuple(c.hash for c in d.candidates), d.box)
            for d in q.ledger.decisions()
        )
    before = sorted(
        (d.kind, d.set_id, d.directory, d.chosen_idx, tuple(c.hash for c in d.candidates), d.box)
        for d in embedded.ledger.decisions()
    )
    assert after == before


def _rect(to: str, x: float, y: float, w: float, h: float, size=(640, 480), **extra) -> dict:
    return {
        "id": "r",
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": to,
        "origin": "manual",
        "original_width": size[0],
        "original_height": size[1],
        "image_rotation": 0,
        "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": ["crop"]}
        | extra,
    }


def _ann(n: int, *result: dict, cancelled: bool = False) -> dict:
    return {
        "id": n,
        "completed_by": 1,
        "result": list(result),
        "was_cancelled": cancelled,
        "ground_truth": False,
        "created_at": "2026-11-02T10:00:00.000000Z",
        "updated_at": "2026-11-02T10:00:00.000000Z",
        "lead_time": 4.2,
        "prediction": {},
        "result_count": 0,
        "task": n,
        "parent_prediction": None,
    }


def _task(n: int, data: dict, *annotations: dict) -> dict:
    return {
        "id": n,
        "annotations": list(annotations),
        "drafts": [],
        "predictions": [],
        "data": data,
        "meta": {},
        "created_at": "2026-11-01T09:00:00.000000Z",
        "updated_at": "2026-11-02T10:00:00Z",
        "inner_id": n,
        "total_annotations": len(annotations),
        "cancelled_annotations": 0,
        "total_predictions": 0,
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 3,
        "updated_by": 1,
        "comment_authors": [],
    }


def test_a_label_studio_export_is_taken_in_with_every_outcome_named(project: Project, tmp_path: Path) -> None:
    """A task export in Label Studio's own shape, with what its users really have in it."""
    root = project.root
    for i, c in enumerate(["#aa0000", "#00aa00", "#0000aa"]):
        make_image(root / "mojo1" / "selected" / f"set0_stage{i + 1}.png", (640, 480), c)
        make_image(root / "mojo2" / "selected" / f"my photo {i}.png", (640, 480), c)
    rotated_jpeg(root / "mojo2" / "portrait.jpg", stored=(80, 40), orientation=6)  # seen 40x80
    project.paths.forget()
    assert project.embed(
        [*SET0, *(f"mojo2/selected/my photo {i}.png" for i in range(3)), "mojo2/portrait.jpg"]
    ).ok
    up = "/data/upload/3/8f2a1c0d-set0_stage2.png"  # an upload renames the file: hash prefix
    local = "/data/local-files/?d=mojo2/selected/my%20photo%201.png"  # URL-encoded local storage
    tasks = [
        _task(1, {"image": up}, _ann(11, _rect("image", 10, 10, 50, 40))),  # imported: one image, no choice
        _task(2, {"image": up}, _ann(12, _rect("image", 10, 10, 50, 40), cancelled=True)),  # skipped
        _task(3, {"image": up}, _ann(13, _rect("image", 10, 10, 50, 40, rotation=12))),  # refused: rotated
        _task(4, {"image": up}, _ann(14, _rect("image", 70, 10, 40, 40))),  # refused: x + width > 100
        _task(5, {"image": up}, _ann(15, _rect("image", 10, 10, 0, 40))),  # refused: zero width
        _task(6, {"image": up}, _ann(16, _rect("image", 10, 10, 50, 40, size=(1280, 960)))),  # refused: size
        _task(
            7,
            {"image_0": "/data/local-files/?d=mojo2/selected/my%20photo%200.png", "image_1": local},
            _ann(17, _rect("image_1", 5, 5, 30, 30)),  # imported: the one box says which
            _ann(18),
        ),  # skipped: no choice made
        _task(
            8,
            {"image": "http://localhost:8080/data/local-files/?d=mojo2/portrait.jpg"},
            _ann(19, _rect("image", 10, 10, 50, 50, size=(80, 40))),  # refused: LS #6608 sizes, unrotated
            _ann(20, _rect("image", 10, 10, 50, 50, size=(40, 80))),
        ),  # imported: the seen size
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    got = import_labelstudio(project, tmp_path / "export.json")
    assert got.reconciles and (got.items, got.imported) == (10, 3)
    assert dict(got.skipped) == {12: "cancelled in Label Studio", 18: "no choice made"}
    codes = {n: why.split(":")[0] for n, why in got.refused}
    assert codes == {
        13: "crop.invalid_box",
        14: "crop.out_of_bounds",
        15: "crop.invalid_box",
        16: "crop.dimension_mismatch",
        19: "crop.dimension_mismatch",
    }
    kept = project.db.query("SELECT line, codes FROM quarantine ORDER BY line")
    assert [(r["line"], r["codes"]) for r in kept] == sorted(codes.items())
    decided = {d.set_id: d for d in project.ledger.decisions()}
    assert decided["labelstudio:1"].chosen.path == SET0[1]
    assert decided["labelstudio:1"].box == (64.0, 48.0, 384.0, 240.0)
    assert decided["labelstudio:7"].chosen.path == "mojo2/selected/my photo 1.png"
    assert decided["labelstudio:8"].box == (4.0, 8.0, 24.0, 48.0)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "curalog",
            "import",
            "labelstudio",
            str(tmp_path / "export.json"),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1 and "already in the ledger 3" in cli.stdout and "no choice made" in cli.stdout


def test_decisions_taken_with_a_warning_are_counted_not_printed_one_by_one(
    project: Project, tmp_path: Path
) -> None:
    for i, c in enumerate(["#aa0000", "#00aa00", "#0000aa"]):
        make_image(project.root / "mojo1" / "selected" / f"set0_stage{i + 1}.png", (640, 480), c)
    project.paths.forget()  # nothing embedded: each selection is taken with decision.no_embedding
    data = {f"image{i}": f"/data/local-files/?d={p}" for i, p in enumerate(SET0)}
    choice = {"type": "choices", "from_name": "chosen", "to_name": "image0", "value": {"choices": ["image2"]}}
    tasks = [_task(n, data | {"n": n}, _ann(n, choice)) for n in (1, 2, 3)]
    (tmp_path / "sel.json").write_text(json.dumps(tasks))
    cli = subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-m",
            "curalog",
            "import",
            "labelstudio",
            str(tmp_path / "sel.json"),
            "--root",
            str(project.root),
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert (
        "taken with a warning 3: decision.no_embedding" in cli.stdout and "DecisionWarning" not in cli.stderr
    )


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/data/upload/12/0a1b2c3d-IMG_0001.JPG", "IMG_0001.JPG"),
        ("/data/local-files/?d=photos/mojo1/a%20b.png", "photos/mojo1/a b.png"),
        ("/data/local-files?d=mojo1/x.png", "mojo1/x.png"),
        ("https://ls.example.org/data/local-files/?d=mojo1/x.png", "mojo1/x.png"),
        ("s3://bucket/shoots/mojo1/x.png", "/shoots/mojo1/x.png"),
        ("mojo1/selected/x.png", "mojo1/selected/x.png"),
    ],
)
def test_label_studio_prefixes_are_stripped(url: str, path: str) -> None:
    assert local_path(url) == path


def _decisions():
    from hypothesis import strategies as st

    corner = st.integers(0, 63_800).map(lambda v: v / 100)  # hundredths of a pixel
    box = st.tuples(
        corner, corner.map(lambda v: v * 0.75), st.integers(200, 20_000), st.integers(200, 15_000)
    )
    crop = box.map(
        lambda b: (b[0], b[1], min(640.0, b[0] + b[2] / 100), min(480.0, b[1] + b[3] / 100))
    ).filter(lambda b: b[2] - b[0] >= 2 and b[3] - b[1] >= 2 and b != (0, 0, 640, 480))
    return st.lists(st.tuples(st.integers(0, 2), st.none() | crop), min_size=1, max_size=10)


def _kept(d) -> tuple:
    box = None if d.box is None else tuple(round(v, 6) for v in d.box)
    return (d.kind, d.set_id, d.directory, d.chosen_idx, tuple(c.hash for c in d.candidates), box)


def test_any_decision_the_ledger_takes_survives_export_and_import(tmp_path_factory, pg_server) -> None:
    """Selections and crops with boxes to the hundredth of a pixel: ledger -> Label Studio -> a fresh
    ledger gives the same kind, set, folder, choice, candidates and box (to 1e-6 px)."""
    import os

    from hypothesis import given, settings

    on_server = bool(os.environ.get("CURALOG_DATABASE_URL"))

    @settings(max_examples=8, deadline=None)
    @given(_decisions())
    def prop(decisions: list) -> None:
        base = tmp_path_factory.mktemp("prop")
        src, dst = base / "src", base / "dst"
        for i, c in enumerate(["#aa0000", "#00aa00", "#0000aa"]):
            make_image(src / "mojo1" / "selected" / f"set0_stage{i + 1}.png", (640, 480), c)
        shutil.copytree(src, dst)
        seen = []
        for root in (src, dst):
            curalog.init_project(root)
            if on_server:  # each example, and each of its two projects, gets a ledger of its own
                os.environ["CURALOG_DATABASE_URL"] = pg_server.new_database()
            with curalog.open_project(root) as p:
                assert p.embed(SET0).ok
                if root == src:
                    with p.session() as s:
                        for k, (idx, box) in enumerate(decisions):
                            if box is None:
                                s.log_selection(f"set{k}", "mojo1/selected", SET0, idx)
                            else:
                                s.log_crop(f"set{k}", "mojo1/selected", SET0, idx, box)
                    export_labelstudio(p, base / "ls")
                else:
                    assert import_labelstudio(p, base / "ls" / "tasks.json").imported == len(decisions)
                seen.append(sorted(_kept(d) for d in p.ledger.decisions()))
        assert seen[0] == seen[1]

    prop()
