"""What a hostile probe of the interop commands found, each kept as a test: malformed files give
one line and exit 2 or a counted refusal (never a traceback); a user's file is never replaced; a
copy of a file, or an export of this very ledger, is not imported twice; what COCO exports can be
imported back; a killed export can be redone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from curalog.audit import AuditLog
from curalog.errors import ConfigError
from curalog.interop.coco import export_coco, import_coco
from curalog.interop.intake import local_path
from curalog.interop.labelstudio import export_labelstudio, import_labelstudio
from curalog.project import Project
from tests.conftest import SET0, SET1

pytestmark = pytest.mark.usefixtures("both_backends")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curalog", *args], capture_output=True, text=True)


def _coco(tmp_path: Path, name: str, images: list, annotations: list) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": []}))
    return path


IMG = {"id": 1, "file_name": SET0[1], "width": 640, "height": 480}


def test_malformed_files_never_give_a_traceback(embedded: Project, tmp_path: Path) -> None:
    root = str(embedded.root)
    (tmp_path / "big.json").write_text('{"images": [], "annotations": [], "n": ' + "9" * 5000 + "}")
    out = _cli("import", "coco", str(tmp_path / "big.json"), "--root", root)
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    os.mkfifo(tmp_path / "pipe.json")  # never opened: it would block
    out = _cli("import", "labelstudio", str(tmp_path / "pipe.json"), "--root", root)
    assert out.returncode == 2 and "not a regular file" in out.stderr
    odd = [
        _coco(tmp_path, "ids.json", [{"id": [1], "file_name": SET0[1]}, IMG],
              [{"id": 1, "image_id": [1], "bbox": [1, 1, 9, 9]}]),
        _coco(tmp_path, "bools.json", [IMG], [{"id": 1, "image_id": True, "bbox": [10, 10, 90, 90]},
                                              {"id": 2, "image_id": 1, "bbox": [True, True, True, True]}]),
        _coco(tmp_path, "twice.json", [IMG, {**IMG, "file_name": SET1[0]}],
              [{"id": 1, "image_id": 1, "bbox": [10, 10, 90, 90]}]),
    ]  # fmt: skip
    for path in odd:
        got = import_coco(embedded, path)
        assert got.imported == 0 and got.refused and got.reconciles, (path.name, got)
        assert all(why.startswith(("row.malformed", "crop.invalid_box")) for _, why in got.refused), (
            got.refused
        )
    data = {"image0": "/data/local-files/?d=" + SET0[0], "image1": "/data/local-files/?d=" + SET0[1]}
    tasks = [
        {"id": 1, "data": data, "annotations": [{"id": 1, "result": [
            {"type": "choices", "from_name": "chosen", "to_name": "image0", "value": {"choices": 5}}]}]},
        {"id": 2, "data": data, "annotations": [{"id": 2, "result": [
            {"type": "rectangle", "to_name": ["image1"],
             "value": {"x": 1, "y": 1, "width": 9, "height": 9}}]}]},
        {"id": 3, "data": [1, 2], "annotations": [{"id": 3, "result": None}]},
    ]  # fmt: skip
    (tmp_path / "odd.json").write_text(json.dumps(tasks))
    got = import_labelstudio(embedded, tmp_path / "odd.json")
    assert got.items == 3 and got.imported == 0 and got.reconciles
    name = os.fsdecode(b"copy\xfe.json")  # a file name that is not UTF-8
    shutil.copy(tmp_path / "odd.json", tmp_path / name)
    out = _cli("import", "labelstudio", str(tmp_path / name), "--root", root)
    assert "Traceback" not in out.stderr and out.returncode in (1, 2), out.stderr


def test_a_user_file_is_never_replaced_even_with_force(embedded: Project, tmp_path: Path) -> None:
    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 200))
    image = embedded.root / SET0[0]
    before = image.read_bytes()
    with pytest.raises(ConfigError, match="not an earlier coco export"):
        export_coco(embedded, image, force=True)
    assert image.read_bytes() == before
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "tasks.json").write_text("mine")
    (forged / "curalog-export.json").write_text('{"curalog_export": "labelstudio"}')
    with pytest.raises(ConfigError, match="not one the earlier export"):
        export_labelstudio(embedded, forged, force=True)
    assert (forged / "tasks.json").read_text() == "mine"
    os.mkfifo(tmp_path / "fifo-dir")
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "curalog-export.json")
    with pytest.raises(ConfigError, match="holds no earlier"):
        export_labelstudio(embedded, tmp_path / "fifo", force=True)
    with pytest.raises(ConfigError, match="UTF-8"):
        export_labelstudio(embedded, tmp_path / os.fsdecode(b"bad\xffdir"))
    assert not (tmp_path / os.fsdecode(b"bad\xffdir")).exists()


def test_replacing_an_export_is_audited_and_a_killed_one_can_be_redone(
    embedded: Project, tmp_path: Path
) -> None:
    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 200))
    export_coco(embedded, tmp_path / "c.json")
    export_coco(embedded, tmp_path / "c.json", force=True)
    export_labelstudio(embedded, tmp_path / "ls")
    fresh = [str(e.data.get("notes")) for e in AuditLog(embedded.config.path("audit_dir")).entries()]
    assert any("curalog-export.json" in n for n in fresh) and not any(
        "replaced the earlier export's" in n for n in fresh
    )
    # a kill after the first manifest and a temp file: the folder says it is an incomplete export
    manifest = json.loads((tmp_path / "ls" / "curalog-export.json").read_text())
    (tmp_path / "ls" / "curalog-export.json").write_text(json.dumps(manifest | {"complete": False}))
    stale = tmp_path / "ls" / ".tasks.json.curalog-tmp-999999999-abcd1234"
    stale.write_text("half")
    export_labelstudio(embedded, tmp_path / "ls", force=True)
    assert (
        not stale.exists() and json.loads((tmp_path / "ls" / "curalog-export.json").read_text())["complete"]
    )
    notes = [str(e.data.get("notes")) for e in AuditLog(embedded.config.path("audit_dir")).entries()]
    assert any("replaced the earlier export" in n for n in notes)
    assert any("tasks.json; replaced the earlier export's" in n for n in notes)
    assert any("a killed export's temp file" in n for n in notes)


def test_a_copy_or_our_own_export_is_not_imported_twice(embedded: Project, tmp_path: Path) -> None:
    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10, 20, 300, 200))
        s.log_selection("set1", "mojo1/selected", SET1, 2)
    export_labelstudio(embedded, tmp_path / "ls")
    got = import_labelstudio(embedded, tmp_path / "ls" / "tasks.json")  # this ledger's own decisions
    assert (got.imported, got.already) == (0, 2) and embedded.ledger.count() == 2
    export_coco(embedded, tmp_path / "a.json")
    shutil.copy(tmp_path / "a.json", tmp_path / "b.json")
    assert import_coco(embedded, tmp_path / "b.json").imported == 0 and embedded.ledger.count() == 2


def test_what_coco_exports_comes_back_and_what_it_cannot_is_named(embedded: Project, tmp_path: Path) -> None:
    with embedded.session() as s:
        near = s.log_crop(
            "set0", "mojo1/selected", SET0, 1, (0, 0, 640, 479.9999)
        )  # rounds to the whole image
        s.log_crop("set1", "mojo1/selected", SET1, 2, (100, 50, 500, 400))
    out = export_coco(embedded, tmp_path / "c.json")
    assert out.written == 1 and out.left_out == [
        (near, "the box rounded to whole pixels would be refused (crop.placeholder)")]  # fmt: skip


def test_foreign_paths_never_become_the_folder(embedded: Project, tmp_path: Path) -> None:
    images = [{"id": 1, "file_name": f"/Users/you/curation/{SET0[1]}", "width": 640, "height": 480}]
    path = _coco(tmp_path, "mac.json", images, [{"id": 1, "image_id": 1, "bbox": [10, 10, 90, 90]}])
    assert import_coco(embedded, path).imported == 1
    [d] = list(embedded.ledger.decisions())
    assert (d.directory, d.set_id, d.chosen.path) == ("mojo1/selected", "coco:set0_stage2", SET0[1])


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://localhost:8081/files/mojo1/selected/my%20file%20%C3%A9%26x%231.png",
         "/files/mojo1/selected/my file é&x#1.png"),
        ("http://localhost:8080/data/local-files/?d=mojo1/a%20b.png", "mojo1/a b.png"),
    ],
)  # fmt: skip
def test_http_urls_are_decoded(url: str, path: str) -> None:
    assert local_path(url) == path


# -- from a review of the change ---------------------------------------------------------------
def test_the_same_annotation_on_another_files_image_is_another_decision(
    embedded: Project, tmp_path: Path
) -> None:
    ann = [{"id": 1, "image_id": 1, "bbox": [10, 10, 100, 100]}]
    a = _coco(tmp_path, "a.json", [{"id": 1, "file_name": SET0[0], "width": 640, "height": 480}], ann)
    b = _coco(tmp_path, "b.json", [{"id": 1, "file_name": SET1[0], "width": 640, "height": 480}], ann)
    assert import_coco(embedded, a).imported == 1
    assert import_coco(embedded, b).imported == 1 and embedded.ledger.count() == 2


def test_our_own_export_at_full_precision_is_not_taken_twice(embedded: Project, tmp_path: Path) -> None:
    with embedded.session() as s:
        s.log_crop("set0", "mojo1/selected", SET0, 1, (10.1234567, 20.7654321, 300.3333333, 200.1111111))
        s.log_crop("set1", "mojo1/selected", SET1, 2, (10.5, 20.25, 300.4, 200))
    export_labelstudio(embedded, tmp_path / "ls")
    export_coco(embedded, tmp_path / "c.json")
    got = import_labelstudio(embedded, tmp_path / "ls" / "tasks.json")
    assert (got.imported, got.already) == (0, 2)
    got = import_coco(embedded, tmp_path / "c.json")
    assert (got.imported, got.already) == (0, 2) and embedded.ledger.count() == 2


def test_a_copy_of_an_image_elsewhere_does_not_take_the_decision(embedded: Project, tmp_path: Path) -> None:
    """Two files with one content: the decision stays on the one the export names."""
    from curalog.interop.intake import by_content, hashes_to_paths

    copy = embedded.root / "backup" / "set0_stage2.png"
    copy.parent.mkdir()
    shutil.copy(embedded.root / SET0[1], copy)
    embedded.paths.forget()
    assert embedded.embed(["backup/set0_stage2.png"]).ok
    with embedded.session() as s:
        d = s.log_crop("b0", "backup", ["backup/set0_stage2.png"], 0, (10, 20, 300, 200))
    digest = embedded.ledger.decision(d).chosen.hash
    assert by_content(embedded, digest, hashes_to_paths(embedded)) == SET0[1]  # the trap: the other copy
    export_labelstudio(embedded, tmp_path / "ls")
    export_coco(embedded, tmp_path / "c.json")
    for importer, path in (
        (import_labelstudio, tmp_path / "ls" / "tasks.json"),
        (import_coco, tmp_path / "c.json"),
    ):
        with embedded.session() as s:
            s.undo(next(iter(embedded.ledger.decisions())).id, "import it back")
        assert importer(embedded, path).imported == 1
        [back] = list(embedded.ledger.decisions())
        assert (back.chosen.path, back.directory) == ("backup/set0_stage2.png", "backup")


def test_a_huge_annotation_id_is_a_position_not_a_traceback(embedded: Project, tmp_path: Path) -> None:
    anns = [{"id": 10**20, "image_id": 1, "bbox": [10, 10, 90, 90]}, {"id": 10**20 + 1, "image_id": 7}]
    path = _coco(tmp_path, "huge.json", [IMG], anns)
    out = _cli("import", "coco", str(path), "--root", str(embedded.root))
    assert "Traceback" not in out.stderr and "imported 1" in out.stdout and out.returncode == 1, out.stderr


def test_a_dry_run_counts_as_the_real_run_does(embedded: Project, tmp_path: Path) -> None:
    twice = [
        {"id": 1, "image_id": 1, "bbox": [10, 10, 90, 90]},
        {"id": 2, "image_id": 1, "bbox": [10, 10, 90, 90]},
    ]
    path = _coco(tmp_path, "twice.json", [IMG], twice)
    dry = import_coco(embedded, path, dry_run=True)
    real = import_coco(embedded, path)
    assert (dry.imported, dry.already) == (real.imported, real.already) == (1, 1)


def test_a_users_format_folder_in_the_dataset_folder_stops_force(tmp_path: Path) -> None:
    from curalog.dataset import build
    from tests.legacy_project import build as build_legacy

    root = tmp_path / "legacy"
    build_legacy(root)
    out = build(root, tmp_path / "ds").out  # no --format: the set wrote no coco/
    (out / "coco").mkdir()
    (out / "coco" / "annotations.json").write_text("my own annotations")
    with pytest.raises(ConfigError, match="other files"):
        build(root, out, formats=["coco"], force=True)
    assert (out / "coco" / "annotations.json").read_text() == "my own annotations"


def test_an_http_upload_url_is_stripped_too() -> None:
    assert local_path("http://localhost:8080/data/upload/3/8f2a1c0d-IMG_1.jpg") == "IMG_1.jpg"


def test_an_import_reports_its_progress_to_the_last_annotation(embedded: Project, tmp_path: Path) -> None:
    anns = [{"id": k, "image_id": 1, "bbox": [10 + k, 10, 90, 90]} for k in range(1, 301)]
    seen: list[tuple[int, int, str]] = []
    got = import_coco(embedded, _coco(tmp_path, "many.json", [IMG], anns), dry_run=True,
                      progress=lambda n, total, what: seen.append((n, total, what)))  # fmt: skip
    assert got.items == 300 and seen == [(256, 300, "annotations"), (300, 300, "annotations")]
