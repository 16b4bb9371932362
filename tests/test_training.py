"""``curalog train``: the ranker and the box regressor, held out against trivial baselines, saved
with what they were trained on, refusing vectors of another embedding model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curalog import dataset
from curalog.audit import AuditLog
from curalog.training import (
    ACTIVE,
    ModelMismatch,
    active_model,
    clearly_above,
    compare,
    load_model,
    train,
)
from curalog.training import metrics as metrics_module

FINGERPRINT = "toy:dim16"


def _synthetic(folder: Path, *, signal: bool = True, shuffled: bool = False, n_sets: int = 90,
               seed: int = 0, models: dict[str, int] | None = None) -> Path:  # fmt: skip
    """A dataset folder written directly, as ``dataset build`` writes one: sets of three variants
    over two projects; with ``signal`` the chosen variant lies along one direction and its box
    width follows it; ``shuffled`` keeps those embeddings but picks the chosen variant and the
    boxes at random (the labels carry nothing)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    dim = 16
    direction = rng.standard_normal(dim)
    emb: list[np.ndarray] = []
    pairs, crops = [], []
    for s in range(n_sets):
        project = "mojo1" if s % 3 else "mojo2"
        variants = [rng.standard_normal(dim) for _ in range(3)]
        if signal:
            variants[0] = variants[0] + 1.5 * direction
        rows = list(range(len(emb), len(emb) + 3))
        emb.extend(variants)
        chosen = int(rng.integers(3)) if shuffled else 0
        for r in rows:
            if r != rows[chosen]:
                pairs.append(
                    (f"d{s}", "selection", f"set{s}", project, "a", "h", rows[chosen], "b", "h2", r, "train")
                )
        w = 0.3 + 0.4 / (1 + np.exp(-variants[chosen] @ direction / 4))
        if shuffled:
            w = 0.3 + 0.4 * rng.random()
        x = 0.5 - w / 2
        crops.append((f"c{s}", f"set{s}", project, "a", "h", x, x, x + w, x + w, rows[chosen], "train"))
    folder.mkdir(parents=True)
    pd.DataFrame(pairs, columns=dataset.PAIR_COLUMNS).to_parquet(folder / "pairs.parquet")
    pd.DataFrame(crops, columns=dataset.CROP_COLUMNS).to_parquet(folder / "crops.parquet")
    np.save(folder / "embeddings.npy", np.asarray(emb, dtype=np.float32))
    manifest = {
        "curalog": "test",
        "reconciliation": {},
        "embedding_models": models or {FINGERPRINT: len(emb)},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "drops.csv").write_text("")
    return folder


def test_signal_trains_clearly_above_baseline_and_shuffled_labels_do_not(root: Path, tmp_path: Path) -> None:
    good = train(root, _synthetic(tmp_path / "good"), out=tmp_path / "models").manifest
    rk, bx = good["ranker"], good["boxes"]
    assert clearly_above(rk["pairwise_accuracy"]) and rk["pairwise_accuracy"]["model"] > 0.85
    assert clearly_above(rk["top1_accuracy"])
    assert rk["top1_accuracy"]["baseline"] == pytest.approx(1 / 3, abs=1e-4)
    assert clearly_above(bx["mean_iou"])
    assert sorted(rk["top1_by_project"]) == sorted(bx["mean_iou_by_project"]) == ["mojo1", "mojo2"]
    assert rk["decisions"] == 90 and rk["pairs"] == 180 and bx["crops"] == 90
    noise = train(root, _synthetic(tmp_path / "noise", shuffled=True), out=tmp_path / "models").manifest
    assert not clearly_above(noise["ranker"]["pairwise_accuracy"])
    assert not clearly_above(noise["ranker"]["top1_accuracy"])
    assert not clearly_above(noise["boxes"]["mean_iou"])
    assert 0.35 < noise["ranker"]["pairwise_accuracy"]["model"] < 0.65


def test_a_model_scores_only_vectors_of_its_embedding_model(root: Path, tmp_path: Path) -> None:
    folder = _synthetic(tmp_path / "ds")
    result = train(root, folder, out=tmp_path / "models")
    model = load_model(result.folder)
    vectors = np.load(folder / "embeddings.npy")[:3]  # the first set: its chosen variant is the first
    assert int(np.argmax(model.scores(vectors, FINGERPRINT))) == 0
    assert np.array_equal(model.scores(vectors, [FINGERPRINT] * 3), result.model.scores(vectors, FINGERPRINT))
    boxes = model.boxes(vectors, FINGERPRINT)
    assert boxes.shape == (3, 4) and ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()
    with pytest.raises(ModelMismatch, match="clip:other"):
        model.scores(vectors, "clip:other")
    with pytest.raises(ModelMismatch, match="clip:other"):  # one vector of another model is enough
        model.boxes(vectors, [FINGERPRINT, "clip:other", FINGERPRINT])
    with pytest.raises(ModelMismatch, match="length 16"):
        model.scores(np.zeros((2, 8)), FINGERPRINT)


def test_the_model_is_saved_with_what_it_was_trained_on_and_never_replaced(
    root: Path, tmp_path: Path
) -> None:
    import hashlib

    folder = _synthetic(tmp_path / "ds")
    models = tmp_path / "models"
    first = train(root, folder, out=models, seed=3)
    m = json.loads((first.folder / "manifest.json").read_text())
    assert m["fingerprint"] == FINGERPRINT and m["dim"] == 16 and m["seed"] == 3 and m["folds"] == 5
    assert m["dataset_manifest_sha256"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert m["curalog"] and m["estimators"]["ranker"] and m["id"] == first.folder.name
    assert active_model(models).id == first.model.id  # type: ignore[union-attr]
    before = {p.name: p.read_bytes() for p in first.folder.iterdir()}
    second = train(root, folder, out=models)
    assert second.folder != first.folder and active_model(models).id == second.model.id  # type: ignore[union-attr]
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == before  # untouched
    entries = AuditLog(root / "data" / "file_operations_logs").entries()
    logged = [e.data for e in entries if e.data.get("script") == "curalog train"]
    assert [sorted(e["files"]) for e in logged] == [["manifest.json", "model.npz"], [ACTIVE]] * 2
    assert {e["dest_dir"] for e in logged} == {str(first.folder), str(second.folder), str(models)}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curalog", *args], capture_output=True, text=True)


def test_train_refuses_with_one_line(root: Path, tmp_path: Path) -> None:
    r = _cli("train", "--root", str(root), "--dataset", str(tmp_path / "nowhere"))
    assert (
        r.returncode == 2 and "not a curalog dataset" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    )
    mixed = _synthetic(tmp_path / "mixed", models={"clip:a": 10, "thumbnail-v1:b": 5})
    r = _cli("train", "--root", str(root), "--dataset", str(mixed))
    assert r.returncode == 2 and "clip:a" in r.stderr and "thumbnail-v1:b" in r.stderr
    good = _synthetic(tmp_path / "good")
    owned = (root / "data/ai_data/cache/embeddings", root / "data/file_operations_logs", root, root / "data")
    for own in owned:
        r = _cli("train", "--root", str(root), "--dataset", str(good), "--out", str(own))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not (root / "data" / "models").exists()  # nothing was written
    r = _cli("train", "--root", str(root), "--dataset", str(good), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fingerprint"] == FINGERPRINT
    r = _cli("train", "--root", str(root), "--dataset", str(good))
    assert r.returncode == 0 and "chosen ranked first" in r.stdout and "mojo2" in r.stdout


def test_train_on_a_built_dataset(tmp_path: Path) -> None:
    from tests.legacy_project import build as build_legacy

    root = tmp_path / "legacy"
    build_legacy(root)
    built = dataset.build(root, tmp_path / "ds")
    result = train(root, built.out)
    (fingerprint,) = built.manifest["embedding_models"]
    assert result.model.fingerprint == fingerprint and result.folder.parent == root / "data" / "models"
    assert "skipped" in result.manifest["ranker"]  # this project's selections have no pair with two vectors
    assert result.manifest["boxes"]["crops"] == built.manifest["counts"]["crops"]
    with pytest.raises(ModelMismatch):
        result.model.scores(np.zeros((1, result.model.dim)), fingerprint)  # no ranker to score with


def _reference_compare(model, base, groups, seed):
    """``compare``'s interval, the slow way: the same draws, one at a time, from rows per set."""
    sets = sorted(set(groups))
    rows = {s: [i for i, g in enumerate(groups) if g == s] for s in sets}
    rng = np.random.default_rng(seed)
    draws = []
    for start in range(0, metrics_module.BOOTSTRAP, metrics_module._BATCH):
        picks = rng.integers(0, len(sets), size=(min(metrics_module._BATCH, metrics_module.BOOTSTRAP - start),
                                                 len(sets)))  # fmt: skip
        for pick in picks:
            chosen = [i for k in pick for i in rows[sets[k]]]
            draws.append(
                (sum(model[i] for i in chosen) / len(chosen), sum(base[i] for i in chosen) / len(chosen))
            )
    lift = [m - b for m, b in draws]
    return [round(float(v), 4) for v in np.percentile(lift, [2.5, 97.5])]


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(st.sampled_from("abcdef"), st.floats(0, 1), st.floats(0, 1)), min_size=1,
                     max_size=25), seed=st.integers(0, 5))  # fmt: skip
def test_the_intervals_are_a_bootstrap_over_sets(data, seed) -> None:
    groups = np.array([g for g, _m, _b in data], dtype=object)
    model = np.array([m for _g, m, _b in data])
    base = np.array([b for _g, _m, b in data])
    got = compare(model, base, groups, seed)
    assert got["sets"] == len(set(groups.tolist())) and got["rows"] == len(data)
    assert got["lift_ci"] == pytest.approx(_reference_compare(model, base, groups.tolist(), seed), abs=2e-4)
    assert got["model"] == pytest.approx(model.mean(), abs=1e-4)


def _curated_project(
    root: Path, *, predictable: bool, n_sets: int = 40, seed: int = 1, first: int = 0
) -> Path:
    """A project curated for real: images on disk, embedded by the built-in embedder, decisions
    logged through the ledger. Each image is a plain colour with a white square somewhere; the
    person picks the reddest variant of a set (``predictable``; else one at random) and crops
    the square (else a square anywhere)."""
    from PIL import Image

    import curalog

    rng = np.random.default_rng(seed)
    decisions = []
    for s in range(first, first + 2 * n_sets):
        paths, squares, redness = [], [], []
        for v in range(3):
            colour = rng.integers(0, 256, 3)
            img = Image.new("RGB", (64, 48), tuple(int(c) for c in colour))
            x, y = int(rng.integers(0, 41)), int(rng.integers(0, 25))
            img.paste((255, 255, 255), (x, y, x + 24, y + 24))
            rel = f"mojo{1 + s % 2}/selected/set{s}_v{v}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            img.save(root / rel)
            paths.append(rel)
            squares.append((x, y, x + 24, y + 24))
            redness.append(int(colour[0]) - (int(colour[1]) + int(colour[2])) / 2)
        chosen = int(np.argmax(redness)) if predictable else int(rng.integers(3))
        x, y = int(rng.integers(0, 41)), int(rng.integers(0, 25))  # a square anywhere
        box = squares[chosen] if predictable else (x, y, x + 24, y + 24)
        decisions.append(
            (f"set{s}", paths[0].rpartition("/")[0], paths, chosen, box if s - first >= n_sets else None)
        )
    if not (root / "curalog.toml").exists():  # (more decisions in a project made before)
        curalog.init_project(root)
    with curalog.open_project(root) as project:
        assert project.embed([p for d in decisions for p in d[2]]).ok
        with project.session(tool="test") as session:
            for set_id, folder, paths, chosen, box in decisions:
                if box is None:
                    session.log_selection(set_id, folder, paths, chosen)
                else:
                    session.log_crop(set_id, folder, paths, chosen, box)
    return root


def test_decisions_predictable_from_the_images_train_above_baseline_and_random_ones_do_not(
    tmp_path: Path,
) -> None:
    """Signal against no signal, end to end: images, the built-in embedder, ledger decisions,
    ``dataset build``, ``train``."""
    real = _curated_project(tmp_path / "real", predictable=True)
    m = train(real, dataset.build(real, tmp_path / "real-ds").out).manifest
    assert clearly_above(m["ranker"]["top1_accuracy"]) and clearly_above(m["ranker"]["pairwise_accuracy"])
    assert clearly_above(m["boxes"]["mean_iou"]) and clearly_above(m["boxes"]["mean_iou_vs_mean_box"])
    assert m["fingerprint"].startswith("thumbnail-v1") and m["ranker"]["decisions"] == 80
    noise = _curated_project(tmp_path / "noise", predictable=False)
    n = train(noise, dataset.build(noise, tmp_path / "noise-ds").out).manifest
    assert not clearly_above(n["ranker"]["top1_accuracy"]) and not clearly_above(
        n["ranker"]["pairwise_accuracy"]
    )
    assert not clearly_above(n["boxes"]["mean_iou_vs_mean_box"])


def test_chosen_ranked_first_counts_ties_as_shared(tmp_path: Path) -> None:
    """``top1``: 1 when every rejected image scores below the chosen one, 0 when one scores above,
    1/(1 + ties) when some tie with it (a plain loop over the decisions as the reference)."""
    import pandas as pd

    from curalog.dataset.signal import RankerFolds
    from curalog.training.train import ranker_figures

    margins = {"a": [1.0, 2.0], "b": [0.0, 1.0], "c": [-1.0, 2.0], "d": [0.0, 0.0], "e": [3.0]}
    rows = [(d, m) for d, ms in margins.items() for m in ms]
    pairs = pd.DataFrame({"decision": [d for d, _m in rows]})
    ranked = RankerFolds(np.array([m for _d, m in rows]), np.array([f"p\x00{d}" for d, _m in rows]), 2)
    figures = ranker_figures(ranked, pairs, seed=0)
    expected = []
    for ms in margins.values():
        expected.append(0.0 if any(m < 0 for m in ms) else 1 / (1 + sum(m == 0 for m in ms)))
    assert figures["top1_accuracy"]["model"] == pytest.approx(sum(expected) / len(expected), abs=1e-4)
    chance = [1 / (1 + len(ms)) for ms in margins.values()]
    assert figures["top1_accuracy"]["baseline"] == pytest.approx(sum(chance) / len(chance), abs=1e-4)
    right = [1.0 if m > 0 else 0.5 if m == 0 else 0.0 for _d, m in rows]
    assert figures["pairwise_accuracy"]["model"] == pytest.approx(sum(right) / len(right), abs=1e-4)


def test_check_refuses_an_agreement_drop_that_is_not_a_fraction(root: Path) -> None:
    for bad in ("0", "1.5", "-0.1"):
        r = _cli("check", "--root", str(root), "--agreement-drop", bad)
        assert r.returncode == 2 and "--agreement-drop" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_retraining_keeps_the_better_model_and_says_so(tmp_path: Path) -> None:
    """``curalog check --retrain``: the first model once enough decisions came; nothing until
    enough new ones; then a new model, kept only if it scores as well held out (decisions made
    at random dilute the signal: the old model stays, and the run says so and exits 1)."""
    from curalog.monitor.nightly import check

    root = _curated_project(tmp_path / "proj", predictable=True)
    first = check(root, retrain=True, retrain_after=50)
    assert first.retrained is not None and first.retrained.replaced, first.summary()
    assert "is now in use" in first.summary() and first.exit_code == 0
    model = active_model(root / "data" / "models")
    assert model is not None and model.manifest["used"] == {"crops": 40, "selections": 40}
    assert not (root / "data" / "dataset").exists()  # the user's dataset folder is never touched
    again = check(root, retrain=True, retrain_after=50)
    assert again.retrained is not None and again.retrained.trained is None and again.summary() == ""
    assert "not retrained: 0 new usable decisions" in again.retrained.line
    _curated_project(root, predictable=False, n_sets=40, seed=2, first=1000)
    worse = check(root, retrain=True, retrain_after=50)
    assert (
        worse.retrained is not None and worse.retrained.trained is not None and not worse.retrained.replaced
    )
    assert "the old model stays in use" in worse.summary() and worse.exit_code == 1
    assert active_model(root / "data" / "models").id == model.id  # type: ignore[union-attr]
    r = _cli("check", "--root", str(root), "--retrain-after", "0")
    assert r.returncode == 2 and "--retrain-after" in r.stderr


def test_a_models_folder_is_never_written_through_a_link_nor_over_other_files(
    root: Path, tmp_path: Path
) -> None:
    good = _synthetic(tmp_path / "good")
    models = root / "data" / "models"
    models.mkdir(parents=True)
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    (models / ACTIVE).symlink_to(precious)  # planted: writing active.json would write the user's file
    r = _cli("train", "--root", str(root), "--dataset", str(good))
    assert r.returncode == 2 and "active.json" in r.stderr and precious.read_text() == "mine", r.stderr
    (models / ACTIVE).unlink()
    images = root / "mojo1" / "selected"  # a folder of the user's images, not of models
    r = _cli("train", "--root", str(root), "--dataset", str(good), "--out", str(images))
    assert r.returncode == 2 and "holds what is not a model" in r.stderr
    assert sorted(p.name for p in images.iterdir()) == sorted(
        p.name for p in images.iterdir() if p.suffix == ".png"
    )


@pytest.mark.parametrize(
    "damage",
    [
        "active-binary",
        "active-fifo",
        "npz-cut",
        "npz-empty",
        "dim-infinity",
        "ranker-shape",
        "ranker-nan",
        "id-empty",
    ],
)
def test_a_damaged_model_is_one_line_and_curation_goes_on(root: Path, tmp_path: Path, damage: str) -> None:
    """A hand-edited or broken model: ``load_model``/``active_model`` say what is wrong in one
    line, and the curation app starts and curates without suggestions (never a hang or a crash)."""
    import os

    import curalog
    from curalog.curation import Curator
    from curalog.errors import ConfigError
    from curalog.monitor import agreement

    result = train(root, _synthetic(tmp_path / "ds"))
    models, folder = root / "data" / "models", result.folder
    manifest = json.loads((folder / "manifest.json").read_text())
    arrays = dict(np.load(folder / "model.npz"))
    if damage == "active-binary":
        (models / ACTIVE).write_bytes(b"\xff\xfe")
    elif damage == "active-fifo":
        (models / ACTIVE).unlink()
        os.mkfifo(models / ACTIVE)
    elif damage == "npz-cut":
        data = (folder / "model.npz").read_bytes()
        (folder / "model.npz").write_bytes(data[: len(data) // 2])
    elif damage == "npz-empty":
        (folder / "model.npz").write_bytes(b"")
    elif damage in ("dim-infinity", "id-empty"):
        manifest.update({"dim": float("inf")} if damage == "dim-infinity" else {"id": ""})
        (folder / "manifest.json").write_text(json.dumps(manifest))
    else:
        arrays["ranker"] = np.full(10, 1.0) if damage == "ranker-shape" else np.full(16, np.nan)
        np.savez(folder / "model.npz", **arrays)
    with pytest.raises(ConfigError):
        active_model(models)
    with curalog.open_project(root) as project:
        curator = Curator(project)
        try:
            assert curator.model is None and curator.model_note
        finally:
            curator.close()
    # the dashboard's list of models: a damaged one is left out, a damaged active.json names none
    listed = agreement.models(root)
    assert [m["in_use"] for m in listed] == ([False] if damage.startswith("active") else [])


@pytest.mark.parametrize("damage", ["nan", "row-beyond", "row-negative", "manifest-garbage", "pairs-garbage",
                                    "matrix-1d", "no-column", "reconciliation-list"])  # fmt: skip
def test_a_damaged_dataset_is_one_line_exit_2(root: Path, tmp_path: Path, damage: str) -> None:
    import pandas as pd

    folder = _synthetic(tmp_path / "ds")
    if damage == "nan":
        emb = np.load(folder / "embeddings.npy")
        emb[3, 2] = np.nan
        np.save(folder / "embeddings.npy", emb)
    elif damage in ("row-beyond", "row-negative", "no-column"):
        pairs = pd.read_parquet(folder / "pairs.parquet")
        if damage == "no-column":
            pairs = pairs.drop(columns=["chosen_row"])
        else:
            pairs.loc[0, "rejected_row"] = 10**6 if damage == "row-beyond" else -5
        pairs.to_parquet(folder / "pairs.parquet")
    elif damage == "manifest-garbage":
        (folder / "manifest.json").write_bytes(b"\xff not json")
    elif damage == "reconciliation-list":
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps({**manifest, "reconciliation": [1, 2]}))
    elif damage == "pairs-garbage":
        (folder / "pairs.parquet").write_bytes(b"garbage")
    else:
        np.save(folder / "embeddings.npy", np.ones(5, np.float32))
    r = _cli("train", "--root", str(root), "--dataset", str(folder))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, (
        r.stderr
    )
    assert not (root / "data" / "models").exists()


def test_retraining_never_builds_through_a_link(tmp_path: Path) -> None:
    from curalog.monitor.nightly import check

    root = _curated_project(tmp_path / "proj", predictable=True)
    user = root / "data" / "dataset"
    dataset.build(root, user)
    before = {p.name: p.read_bytes() for p in user.iterdir()}
    (root / "data" / "models").mkdir(parents=True)
    (root / "data" / "models" / "dataset").symlink_to(user)
    result = check(root, retrain=True, retrain_after=10)
    assert "dataset (a link)" in result.retrain_failed and result.exit_code == 1
    assert {p.name: p.read_bytes() for p in user.iterdir()} == before
