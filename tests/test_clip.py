"""The clip embedder, offline: a tiny CLIP built from a config in the test, on generated images."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import curalog
from curalog.embeddings.pipeline import DecodePool
from curalog.embeddings.preprocess import ClipPrep, clip_pixels, normalize
from curalog.errors import ConfigError
from tests.conftest import make_image, rotated_jpeg

torch = pytest.importorskip(
    "torch", reason="the clip extra (torch + transformers) is part of the dev install"
)
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLIP with ViT-B/32's layout at toy size (2 layers, width 32), weights random, saved as
    a local model folder with its preprocessor config."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    folder = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config={"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 37, "max_position_embeddings": 77},
        vision_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "intermediate_size": 37, "image_size": 224, "patch_size": 32},
        projection_dim=16,
    )  # fmt: skip
    CLIPModel(cfg).save_pretrained(folder)
    CLIPImageProcessorPil().save_pretrained(folder)
    return folder


def _noise(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0, **save) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    data = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    # smooth it a little so JPEG and resizing behave like on photos
    im = Image.fromarray(data.squeeze() if channels == 1 else data, mode).resize(
        size, Image.Resampling.BILINEAR
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **save)
    return path


def _reference(path: Path) -> np.ndarray:
    """transformers' own CLIP image processor on the same (upright) image."""
    from PIL import ImageOps
    from transformers import CLIPImageProcessorPil

    with Image.open(path) as im:
        upright = ImageOps.exif_transpose(im)
        return CLIPImageProcessorPil()(images=upright, return_tensors="np")["pixel_values"][0]


@pytest.mark.parametrize(
    "name,size,mode,save",
    [
        ("wide.png", (300, 200), "RGB", {}),
        ("tall.png", (181, 411), "RGB", {}),
        ("alpha.png", (257, 230), "RGBA", {}),
        ("grey.png", (640, 480), "L", {}),
        ("photo.jpg", (1024, 768), "RGB", {"quality": 90}),
        ("small.jpg", (150, 120), "RGB", {"quality": 90}),
    ],
)
def test_preprocessing_equals_the_transformers_processor(tmp_path: Path, name, size, mode, save) -> None:
    path = _noise(tmp_path / name, size, mode, **save)
    ours = normalize(clip_pixels(path, ClipPrep(draft_factor=0))[None], ClipPrep())[0]
    ref = _reference(path)
    assert ours.shape == ref.shape == (3, 224, 224)
    assert np.abs(ours - ref).max() <= 1e-3


def test_exif_rotated_jpeg_matches_on_the_upright_image(tmp_path: Path) -> None:
    path = rotated_jpeg(tmp_path / "r.jpg", (400, 300), 6)
    ours = normalize(clip_pixels(path, ClipPrep(draft_factor=0))[None], ClipPrep())[0]
    assert np.abs(ours - _reference(path)).max() <= 1e-3


def test_jpeg_draft_mode_is_close_and_applies_only_to_big_jpegs(tmp_path: Path) -> None:
    big = _noise(tmp_path / "big.jpg", (2048, 1536), quality=92)
    exact = normalize(clip_pixels(big, ClipPrep(draft_factor=0))[None], ClipPrep())[0].ravel()
    draft = normalize(clip_pixels(big, ClipPrep(draft_factor=2))[None], ClipPrep())[0].ravel()
    assert not np.array_equal(exact, draft)  # it did decode at reduced scale
    cos = float(exact @ draft / np.linalg.norm(exact) / np.linalg.norm(draft))
    assert cos > 0.99 and np.abs(exact - draft).mean() < 0.05
    small = _noise(tmp_path / "small.jpg", (400, 300), quality=92)  # under 2x the input size
    assert np.array_equal(
        clip_pixels(small, ClipPrep(draft_factor=2)), clip_pixels(small, ClipPrep(draft_factor=0))
    )


def test_embedder_vectors_equal_the_reference_model(tiny_clip: Path, tmp_path: Path) -> None:
    from transformers import CLIPVisionModelWithProjection

    from curalog.embeddings.clip import ClipEmbedder

    emb = ClipEmbedder(str(tiny_clip), device="cpu", draft_factor=0, precision="fp32")
    assert emb.dim == 16 and emb.fingerprint.startswith(f"clip:{tiny_clip.name}@local-")
    assert "pil-bicubic-short224-crop224" in emb.fingerprint
    paths = [_noise(tmp_path / f"{i}.png", (320 + 40 * i, 240), seed=i) for i in range(3)]
    ours = emb.embed_pixels(np.stack([clip_pixels(p, emb.prep) for p in paths]))
    from transformers import CLIPConfig

    cfg = CLIPConfig.from_pretrained(tiny_clip)
    cfg.vision_config.projection_dim = cfg.projection_dim
    model = CLIPVisionModelWithProjection.from_pretrained(tiny_clip, config=cfg.vision_config).eval()
    with torch.no_grad():
        ref = model(pixel_values=torch.from_numpy(np.stack([_reference(p) for p in paths]))).image_embeds
    ref = torch.nn.functional.normalize(ref, dim=-1).numpy()
    assert ours.dtype == np.float32 and np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.abs(ours - ref).max() < 1e-4
    # half precision (what "auto" picks on a GPU, or a CPU with native bf16): same direction
    half = ClipEmbedder(str(tiny_clip), device="cpu", draft_factor=0, precision="bf16")
    assert half.fingerprint == emb.fingerprint  # how it ran is not what it is
    low = half.embed_pixels(np.stack([clip_pixels(p, emb.prep) for p in paths]))
    assert low.dtype == np.float32 and (np.sum(low * ref, axis=1) > 0.99).all()


def test_missing_model_fails_at_once_saying_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    from curalog.embeddings.clip import ClipEmbedder

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        ClipEmbedder("someone/clip-that-is-not-here", device="cpu")
    assert time.perf_counter() - started < 10
    text = str(exc.value)
    assert "'someone/clip-that-is-not-here' is not on this machine" in text
    assert "curalog model download someone/clip-that-is-not-here" in text
    with pytest.raises(ConfigError, match="does not exist"):
        ClipEmbedder(str(tmp_path / "no-such-folder"), device="cpu")


def test_hung_and_broken_images_are_skipped_with_their_reason(tmp_path: Path) -> None:
    good = [_noise(tmp_path / f"g{i}.png", (256, 256), seed=i) for i in range(4)]
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever: never opened
    slow = tmp_path / "slow.png"
    Image.new("RGB", (9000, 9000), "gray").save(slow)  # 81 Mpixels: a second or more to decode
    broken = tmp_path / "broken.png"
    broken.write_bytes(good[0].read_bytes()[:300])  # header intact, data cut
    items = [(p.name, str(p)) for p in [good[0], fifo, good[1], slow, broken, good[2], good[3]]]
    started = time.perf_counter()
    with DecodePool(ClipPrep(), workers=2, timeout=0.3) as pool:
        out = {key: (pixels, why) for key, pixels, why in pool.map(items)}
    assert time.perf_counter() - started < 30  # the slow image cost its timeout, not the run
    assert [k for k, (px, _) in out.items() if px is not None] == ["g0.png", "g1.png", "g2.png", "g3.png"]
    assert "not a regular file" in out["pipe.png"][1]
    assert "longer than 0.3 s" in out["slow.png"][1]
    assert "truncated" in out["broken.png"][1] or "cannot decode" in out["broken.png"][1]
    for key in ("g0.png", "g3.png"):
        assert np.array_equal(out[key][0], clip_pixels(tmp_path / key))  # same pixels as in-process


def _clip_project(root: Path) -> list[str]:
    names = []
    for i in range(6):
        ext = "png" if i % 2 else "jpg"
        _noise(root / "mojo1" / "selected" / f"img{i}.{ext}", (640, 480), seed=i)
        names.append(f"mojo1/selected/img{i}.{ext}")
    bad = root / "mojo1" / "selected" / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    names.append("mojo1/selected/corrupt.png")
    make_image(root / "mojo2" / "x.png", (300, 300), "#123456")
    names.append("mojo2/x.png")
    curalog.init_project(root)
    return names


def test_embed_fills_the_store_through_the_pipeline(tiny_clip: Path, tmp_path: Path) -> None:
    from curalog.embeddings.clip import ClipEmbedder

    root = tmp_path / "proj"
    names = _clip_project(root)
    emb = ClipEmbedder(str(tiny_clip), device="cpu")
    with curalog.open_project(root) as proj:
        result = proj.embed(names, embedder=emb, batch_size=3)
        assert result.embedded == 7 and [p for p, _ in result.failed] == ["mojo1/selected/corrupt.png"]
        assert "not a readable image" in result.failed[0][1]
        assert result.verify is not None and result.verify.ok
        for name in names[:-2]:
            entry = proj.embeddings.lookup(name)
            assert entry is not None and entry.model == emb.fingerprint and entry.dim == 16
            vec = proj.embeddings.load(entry.hash)
            assert vec.dtype == np.float32 and abs(float(np.linalg.norm(vec)) - 1) < 1e-5
        again = proj.embed(names, embedder=emb)
        assert again.embedded == 0 and again.up_to_date == 7  # resumable: nothing redone


def test_cli_embed_with_a_local_model_folder(tiny_clip: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _clip_project(root)
    out = subprocess.run(
        [sys.executable, "-m", "curalog", "embed", "--root", str(root), "--model", str(tiny_clip),
         "--workers", "2", "mojo1/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr  # the corrupt image fails, the rest is stored
    assert "6 embedded" in out.stdout and "1 failed" in out.stdout and "corrupt.png" in out.stdout
    with curalog.open_project(root) as proj:
        models = {e.model for e in proj.embeddings.entries()}
        assert len(models) == 1 and next(iter(models)).startswith("clip:")
        # mixing in another model's vectors is flagged
        proj.embed(["mojo2/x.png"])  # the project's default embedder: thumbnail
        codes = {p.code for p in proj.verify().problems}
        assert "embedding.model_mixture" in codes


def test_model_download_is_the_only_network_step(monkeypatch, tmp_path: Path) -> None:
    import huggingface_hub

    from curalog.embeddings.clip import download_model

    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    assert download_model("openai/clip-vit-base-patch32") == tmp_path / "snap"
    assert (
        calls[0]["repo_id"] == "openai/clip-vit-base-patch32"
        and "*.safetensors" in calls[0]["allow_patterns"]
    )


def test_kill_9_during_clip_embed_loses_nothing_and_leaves_no_worker(tiny_clip: Path, tmp_path: Path) -> None:
    import random
    import signal

    from tests.test_crash import _env, _reset, _wait_for

    root = tmp_path / "proj"
    names = [f"mojo1/selected/img{i:03d}.png" for i in range(24)]
    for i, name in enumerate(names):
        _noise(root / name, (96, 64), seed=i)
    curalog.init_project(root)
    cmd = [sys.executable, "-m", "curalog", "embed", "--root", str(root), "--model", str(tiny_clip),
           "--workers", "2", "--batch-size", "2", "mojo1"]  # fmt: skip
    started = time.monotonic()
    first = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    full_run = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    rng = random.Random(7)
    kills = 0
    for _trial in range(6):
        _reset(root)
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        time.sleep(rng.uniform(0.5, full_run))  # a random point of a run (fault injection)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # the main process only, as the OOM killer would
            kills += 1
        proc.wait(timeout=60)

        def group_gone(pgid: int = proc.pid) -> bool:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            return False

        assert _wait_for(group_gone, timeout=20), "decode workers outlived their killed parent"
        if (root / "data" / "curalog.db").exists():
            with curalog.open_project(root) as p:
                codes = {x.code for x in p.verify().problems}
                assert not codes & {"embedding.file_missing", "embedding.corrupt"}, codes
    assert kills >= 4
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with curalog.open_project(root) as p:
        report = p.verify()
        assert report.problems == [] and report.index_entries == len(names)
