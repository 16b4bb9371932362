"""`curalog dataset build`: every decision used or dropped with its reason, grouped split."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from curalog import dataset
from curalog.dataset import ReconciliationError, build, builder, load, split_of
from curalog.errors import CuralogError
from curalog.validate import validate
from tests.legacy_project import CROP, EMB, SEL
from tests.legacy_project import build as build_legacy

pytestmark = pytest.mark.usefixtures("both_backends")


@pytest.fixture
def legacy(tmp_path: Path):
    root = tmp_path / "legacy"
    planted = build_legacy(root)
    return root, planted


def test_reconciliation_accounts_for_every_decision(legacy, tmp_path: Path) -> None:
    root, planted = legacy
    seen: list[tuple[int, int, str]] = []
    result = build(root, tmp_path / "ds", progress=lambda n, t, phase: seen.append((n, t, phase)))
    examples = [(n, t) for n, t, phase in seen if phase == "examples"]
    assert examples and examples[-1][0] == examples[-1][1] == planted.crops + planted.selections
    rec = result.manifest["reconciliation"]
    report = validate(root, use_cache=False)
    assert rec["crops"]["logged"] == planted.crops and rec["selections"]["logged"] == planted.selections
    assert rec["crops"]["used"] == report.usable_crops == planted.usable_crops
    assert rec["selections"]["used"] == report.usable_selections == planted.usable_selections
    for r in rec.values():
        assert r["logged"] == r["used"] + sum(r["dropped"].values())
    # one reason per dropped decision, by docs/findings.md's precedence
    assert rec["crops"]["dropped"] == {
        "crop.zero_dimensions": 2, "crop.placeholder": 1, "crop.invalid_box": 1, "crop.out_of_bounds": 1,
        "decision.no_embedding": 3, "row.malformed": 1,
    }  # fmt: skip
    assert rec["selections"]["dropped"] == {
        "row.malformed": 2, "path.unresolved": 1, "path.ambiguous": 2, "decision.no_embedding": 2,
        "row.duplicate": 1,
    }  # fmt: skip


def test_drop_report_lists_every_dropped_decision(legacy, tmp_path: Path) -> None:
    root, planted = legacy
    result = build(root, tmp_path / "ds")
    with open(result.out / "drops.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rec = result.reconciliation
    assert len(rows) == sum(sum(r["dropped"].values()) for r in rec.values())
    got = {(r["reason"], r["source"], int(r["line"])) for r in rows}
    expected = {
        (code, src, line) for code, src, line in planted.findings
        if src in (SEL, CROP) and code not in ("image.missing", "crop.dimension_mismatch")
    }  # fmt: skip
    assert got == expected


def test_tables_matrix_and_load(legacy, tmp_path: Path) -> None:
    root, planted = legacy
    result = build(root, tmp_path / "ds", val_fraction=0.5, seed=3)
    ds = load(result.out)
    assert len(ds.crops) == planted.usable_crops == result.manifest["counts"]["crops"]
    assert isinstance(ds.embeddings, np.memmap) and ds.embeddings.dtype == np.float32
    assert ds.embeddings.shape == (result.manifest["counts"]["images"], 8)
    for _, c in ds.crops.iterrows():  # each row of the matrix is the chosen image's vector file
        assert np.array_equal(ds.embeddings[c["row"]], np.load(root / EMB / f"{c['chosen_hash']}.npy"))
        assert 0 <= c["x1"] < c["x2"] <= 1 and 0 <= c["y1"] < c["y2"] <= 1
    px = ds.crops[ds.crops.chosen_path == "mojo1/crop/clean_px.png"].iloc[0]
    assert (px.x1, px.y1, px.x2, px.y2) == pytest.approx((4 / 64, 5 / 48, 60 / 64, 40 / 48))
    norm = ds.crops[ds.crops.chosen_path == "mojo1/crop/clean_norm.png"].iloc[0]
    assert (norm.x1, norm.y1, norm.x2, norm.y2) == pytest.approx((0.1, 0.2, 0.5, 0.6))
    # the one selection with a rejected variant that has no vector: left out of the pairs, counted
    assert result.manifest["pairs"]["left_out"] == {"rejected image has no usable vector": 1}
    assert len(ds.pairs) == 0


def test_split_is_grouped_by_set_and_deterministic(tmp_path: Path) -> None:
    sets = [("mojo1", f"set_{i}") for i in range(2000)]
    a = [split_of(p, s, 7, 0.2) for p, s in sets]
    assert a == [split_of(p, s, 7, 0.2) for p, s in sets]  # same inputs, same split
    assert a != [split_of(p, s, 8, 0.2) for p, s in sets]  # the seed matters
    assert 0.17 < a.count("val") / len(a) < 0.23
    assert {split_of("mojo1", "x", 1, 0.0) for _ in range(3)} == {"train"}
    # pinned: a change of hash function would silently move users' sets between train and val
    assert [split_of("mojo1", f"set_{i}", 0, 0.5) for i in range(8)] == [
        "train", "val", "val", "train", "train", "train", "val", "train",
    ]  # fmt: skip
    assert [split_of("mojo2", f"set_{i}", 3, 0.25)[0] for i in range(8)] == list("ttvttttt")


def test_split_never_puts_a_set_on_both_sides(legacy, tmp_path: Path) -> None:
    root, _ = legacy
    ds = load(build(root, tmp_path / "ds", val_fraction=0.5, seed=1).out)
    by_set = ds.crops.groupby(["project", "set_id"])["split"].nunique()
    assert (by_set == 1).all()


def test_a_build_that_does_not_add_up_writes_nothing(legacy, tmp_path: Path, monkeypatch) -> None:
    root, _ = legacy
    real_collect = builder.collect

    def losing_one(config, **kwargs):
        validated = real_collect(config, **kwargs)
        validated.judged.rows.pop()  # a decision the builder would silently lose
        return validated

    monkeypatch.setattr(builder, "collect", losing_one)
    with pytest.raises(ReconciliationError, match="does not account for every decision"):
        build(root, tmp_path / "ds")
    assert not (tmp_path / "ds").exists() and not (tmp_path / ".ds.building").exists()


def test_refuses_to_overwrite_without_force(legacy, tmp_path: Path) -> None:
    root, _ = legacy
    out = build(root, tmp_path / "ds").out
    before = json.loads((out / "manifest.json").read_text())["created_at"]
    with pytest.raises(CuralogError, match="--force"):
        build(root, out)
    assert json.loads((out / "manifest.json").read_text())["created_at"] == before
    build(root, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(dataset.FILES)


def test_pairs_from_ledger_decisions(embedded, root: Path, tmp_path: Path) -> None:
    from tests.conftest import SET0, SET1

    with embedded.session(tool="test") as s:
        s.log_selection("set0", "mojo1/selected", SET0, 1)
        s.log_crop("set1", "mojo1/selected", SET1, 2, (10, 20, 300, 200))
    ds = load(build(root, tmp_path / "ds").out)
    assert len(ds.crops) == 1 and len(ds.pairs) == 4
    crop = ds.crops.iloc[0]
    assert crop.chosen_path == SET1[2] and crop.decision == "data/curalog.db:2"
    assert (crop.x1, crop.y1, crop.x2, crop.y2) == pytest.approx((10 / 640, 20 / 480, 300 / 640, 200 / 480))
    sel = ds.pairs[ds.pairs.kind == "selection"]
    assert sorted(sel.rejected_path) == sorted([SET0[0], SET0[2]]) and set(sel.chosen_path) == {SET0[1]}
    for _, p in ds.pairs.iterrows():
        assert p.chosen_hash != p.rejected_hash
        assert np.array_equal(ds.embeddings[p.chosen_row], embedded.embeddings.load(p.chosen_hash))
        assert np.array_equal(ds.embeddings[p.rejected_row], embedded.embeddings.load(p.rejected_hash))
    assert ds.manifest["embedding_models"] == {"thumbnail-v1:rgb8x8+hist16:dim240": 6}


def test_torch_crop_dataset(legacy, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch comes with the dev install (curalog[clip])")
    root, planted = legacy
    out = build(root, tmp_path / "ds", val_fraction=0.0).out
    data = dataset.TorchCropDataset(out, split="train")
    assert len(data) == planted.usable_crops
    x, y = next(iter(torch.utils.data.DataLoader(data, batch_size=len(data))))
    assert x.shape == (planted.usable_crops, 8) and x.dtype == torch.float32
    assert y.shape == (planted.usable_crops, 4) and bool(((y >= 0) & (y <= 1)).all())
    assert len(dataset.TorchCropDataset(out, split="val")) == 0


def _synthetic(folder: Path, signal: bool, n_sets: int = 60, seed: int = 0) -> Path:
    """A dataset folder written directly: chosen images lie along one direction (with signal) and
    boxes follow the embedding; without signal everything is noise."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    dim = 16
    direction = rng.standard_normal(dim)
    emb, pairs, crops = [], [], []
    for s in range(n_sets):
        chosen = rng.standard_normal(dim) + (1.5 * direction if signal else 0)
        emb.append(chosen)
        c = len(emb) - 1
        for _ in range(2):
            emb.append(rng.standard_normal(dim))
            pairs.append(
                (f"d{s}", "selection", f"set{s}", "p", "a", "h", c, "b", "h2", len(emb) - 1, "train")
            )
        w = 0.3 + 0.4 * (1 / (1 + np.exp(-chosen @ direction / 4)) if signal else rng.random())
        x = 0.5 - w / 2
        crops.append((f"d{s}", f"set{s}", "p", "a", "h", x, x, x + w, x + w, c, "train"))
    folder.mkdir()
    pd.DataFrame(pairs, columns=dataset.PAIR_COLUMNS).to_parquet(folder / "pairs.parquet")
    pd.DataFrame(crops, columns=dataset.CROP_COLUMNS).to_parquet(folder / "crops.parquet")
    np.save(folder / "embeddings.npy", np.asarray(emb, dtype=np.float32))
    (folder / "manifest.json").write_text("{}")
    (folder / "drops.csv").write_text("")
    return folder


def test_baseline_finds_signal_and_only_signal(tmp_path: Path) -> None:
    good = dataset.baseline(_synthetic(tmp_path / "good", True))
    assert good["ranker"]["pairwise_accuracy"] > 0.85 > good["ranker"]["random_pick"]
    assert good["boxes"]["mean_iou"] > good["boxes"]["centre_of_mean_size"]
    noise = dataset.baseline(_synthetic(tmp_path / "noise", False))
    assert 0.3 < noise["ranker"]["pairwise_accuracy"] < 0.7
    assert noise["boxes"]["mean_iou"] < noise["boxes"]["centre_of_mean_size"] + 0.05


def test_baseline_on_a_built_dataset(legacy, tmp_path: Path) -> None:
    root, _ = legacy
    out = build(root, tmp_path / "ds").out
    r = dataset.baseline(out)
    assert "skipped" in r["ranker"]  # the legacy project has no pairs with two vectors
    assert r["boxes"]["crops"] == 6 and 0 <= r["boxes"]["mean_iou"] <= 1
