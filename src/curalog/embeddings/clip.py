"""The ``clip`` embedder: image embeddings of a CLIP model's projection head, L2-normalized.

Needs the optional extra ``curalog[clip]`` (transformers + torch), imported only when a CLIP
embedder is made. The model comes from a local folder or the Hugging Face cache, never from the
network: with neither, it fails at once naming the model and how to fetch it elsewhere.
Decoding and resizing happen in worker processes (``preprocess.py``); this module turns uint8
batches into vectors on the chosen device (CUDA automatically when present: half precision,
channels-last, pinned memory).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from curalog.embeddings.preprocess import ClipPrep, pixels_of
from curalog.errors import ConfigError

DEFAULT_MODEL = "openai/clip-vit-base-patch32"


def _need_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the clip embedder needs the optional extra: pip install 'curalog[clip]' ({exc.name} is missing)"
        ) from None


def model_folder(model: str) -> tuple[Path, str]:
    """(local folder of ``model``, its revision). ``model`` is a folder or a Hugging Face name
    looked up in the local cache only. Raises ConfigError saying how to get it."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} is not a model folder (no config.json)")
        return path.resolve(), _local_revision(path)
    if path.is_absolute() or model.startswith((".", "~")):
        raise ConfigError(f"model folder {model} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id=model, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(
            f"model {model!r} is not on this machine (not a folder, not in the Hugging Face cache "
            f"{os.environ.get('HF_HUB_CACHE') or '~/.cache/huggingface/hub'}), and curalog never downloads "
            f"at run time. On a machine with network run `curalog model download {model}` (then copy the "
            f"cache folder here), or pass --model /path/to/a/local/clip/folder ({type(exc).__name__})"
        ) from None
    return folder, folder.name  # the snapshot folder is named by its commit


def download_model(model: str = DEFAULT_MODEL) -> Path:
    """``curalog model download``: fetch a model into the Hugging Face cache (the one command
    that uses the network), weights as safetensors plus the configs. Returns its folder."""
    _need_extra()
    from huggingface_hub import snapshot_download

    folder = snapshot_download(
        repo_id=model, allow_patterns=["*.json", "*.safetensors", "*.txt"], local_files_only=False
    )
    return Path(folder)


def _local_revision(folder: Path) -> str:
    """A content tag for a model folder without a commit: its config and weights' identity."""
    h = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        size = weights.stat().st_size
        with open(weights, "rb") as fh:
            h.update(f"{weights.name}:{size}".encode())
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read())
    return "local-" + h.hexdigest()[:12]


def prep_of(folder: Path, draft_factor: int) -> ClipPrep:
    """Preprocessing as the model's preprocessor_config.json says (CLIP's defaults without one)."""
    cfg_file = folder / "preprocessor_config.json"
    cfg: dict[str, Any] = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    size = cfg.get("size", 224)
    shortest = size.get("shortest_edge", 224) if isinstance(size, dict) else int(size)
    crop = cfg.get("crop_size", 224)
    crop = crop.get("height", 224) if isinstance(crop, dict) else int(crop)
    mean = tuple(cfg.get("image_mean", ClipPrep.mean))
    std = tuple(cfg.get("image_std", ClipPrep.std))
    return ClipPrep(shortest, crop, mean, std, draft_factor)  # type: ignore[arg-type]


def vision_config(folder: Path) -> Any:
    """The vision tower's config with the checkpoint's own projection size (a full CLIP folder
    keeps ``projection_dim`` at the top level, which the vision config alone would not see)."""
    from transformers import AutoConfig, CLIPVisionConfig

    cfg = AutoConfig.from_pretrained(folder, local_files_only=True)
    if isinstance(cfg, CLIPVisionConfig):
        return cfg
    vision = cfg.vision_config
    vision.projection_dim = cfg.projection_dim
    return vision


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_bf16() -> bool:
    """Native bfloat16 matrix instructions (AVX512-BF16 or AMX), where bf16 roughly doubles the
    model's speed; without them bf16 is emulated and slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(device: str, precision: str = "auto") -> Any:
    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} must be one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.startswith("cuda"):
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "bf16" if cpu_has_bf16() else "fp32"
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def pick_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available on this machine")
    return device


class ClipEmbedder:
    """CLIP image embeddings (``CLIPVisionModelWithProjection``'s ``image_embeds``, normalized)."""

    name = "clip"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        draft_factor: int = 2,
        decode_timeout: float = 30.0,
        precision: str = "auto",
    ) -> None:
        _need_extra()
        import torch
        from transformers import CLIPVisionModelWithProjection
        from transformers.utils import logging as hf_logging

        folder, revision = model_folder(model)
        self.model_name = model if not Path(model).expanduser().is_dir() else folder.name
        self.revision = revision
        self.prep = prep_of(folder, draft_factor)
        self.decode_timeout = decode_timeout
        self.device = pick_device(device)
        cuda = self.device.startswith("cuda")
        # Precision is how the model runs, not what it is: not part of the fingerprint (bf16
        # and fp32 vectors of one model agree to a cosine of ~0.999).
        self.dtype = pick_dtype(self.device, precision)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "some weights of the text model were not used" is expected
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no loading bars (and no tqdm monitor thread left behind)
        try:
            net = CLIPVisionModelWithProjection.from_pretrained(
                folder, config=vision_config(folder), local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the CLIP model from {folder}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
            if bars:
                hf_logging.enable_progress_bar()
        self.model = net.to(self.device, dtype=self.dtype).eval()
        if cuda:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.dim = int(net.config.projection_dim)
        self.fingerprint = f"clip:{self.model_name}@{self.revision}:{self.prep.tag}:dim{self.dim}"
        self._mean = torch.tensor(self.prep.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(self.prep.std, device=self.device).view(1, 3, 1, 1) * 255.0

    # -- the two stages ------------------------------------------------------------------------
    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (n, h, w, 3) from ``preprocess.clip_pixels`` -> float32 (n, dim), unit length."""
        import torch

        cuda = self.device.startswith("cuda")
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if cuda:
            x = x.pin_memory().to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float()  # rescale + normalize in one step: (x - 255 m) / (255 s)
        x = ((x - self._mean) / self._std).to(self.dtype)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.model(pixel_values=x).image_embeds.float()
            out = torch.nn.functional.normalize(out, dim=-1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def embed(self, images: list) -> np.ndarray:
        """The ``Embedder`` protocol: decoded PIL images (already upright) -> vectors."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_pixels(np.stack([pixels_of(im, self.prep) for im in images]))
