"""The validator's own cache: which vector files were already checked and what image headers
said, keyed by each file's stat identity. One ``.npz`` file under ``data/`` (arrays only, no
pickle), replaced atomically; safe to delete. Failing to read or write it only makes the next
run slower. Writing it is the validator's only write, and it is not audited: ``validate``
promises to leave every other file, the audit log included, untouched.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

CACHE_NAME = "curalog-validate-cache.npz"

VectorKey = tuple[int, int, int]  # size, mtime_ns, inode
ImageKey = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns


class ValidateCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        # vector file name -> (key, length or -1, problem or "")
        self.vectors: dict[str, tuple[VectorKey, int, str]] = {}
        # canonical image path -> (key, width, height)
        self.images: dict[str, tuple[ImageKey, int, int]] = {}
        self.changed = False
        # The last full result and the stat signature of every input it was computed from.
        self.memo_signature = ""
        self.memo_report = ""
        self.memo_folders: list[str] = []
        self.memo_images: list[str] = []

    def load_memo(self) -> None:
        """Only the last result and its signature (cheap: no per-file entries)."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                if "memo_signature" in z.files:
                    self.memo_signature = str(z["memo_signature"])
                    self.memo_report = str(z["memo_report"])
                    self.memo_folders = z["memo_folders"].tolist()
                    self.memo_images = z["memo_images"].tolist()
        except (OSError, ValueError, KeyError, TypeError):
            self.memo_signature = ""

    def load(self) -> None:
        """The per-file entries: vector checks and image sizes."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                names = z["vec_name"].astype(str).tolist()
                keys = zip(
                    z["vec_size"].tolist(), z["vec_mtime"].tolist(), z["vec_ino"].tolist(), strict=True
                )
                self.vectors = {
                    n: (k, length, p)
                    for n, k, length, p in zip(
                        names, keys, z["vec_len"].tolist(), z["vec_problem"].tolist(), strict=True
                    )
                }
                ikeys = zip(
                    z["img_size"].tolist(), z["img_mtime"].tolist(), z["img_ino"].tolist(),
                    z["img_ctime"].tolist(), strict=True,
                )  # fmt: skip
                self.images = {
                    p: (k, w, h)
                    for p, k, w, h in zip(
                        z["img_path"].astype(str).tolist(),
                        ikeys,
                        z["img_w"].tolist(),
                        z["img_h"].tolist(),
                        strict=True,
                    )
                }
        except (OSError, ValueError, KeyError, TypeError):
            self.vectors, self.images = {}, {}

    def save(self) -> None:
        if not self.changed:
            return
        v, i = self.vectors, self.images
        vkeys = np.array([k for k, _, _ in v.values()], dtype=np.int64).reshape(-1, 3)
        ikeys = np.array([k for k, _, _ in i.values()], dtype=np.int64).reshape(-1, 4)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    vec_name=np.array(list(v), dtype=bytes),
                    vec_size=vkeys[:, 0], vec_mtime=vkeys[:, 1], vec_ino=vkeys[:, 2],
                    vec_len=np.array([n for _, n, _ in v.values()], dtype=np.int64),
                    vec_problem=np.array([p for _, _, p in v.values()], dtype=str),
                    img_path=np.char.encode(np.array(list(i), dtype=str), "utf-8"),
                    img_size=ikeys[:, 0], img_mtime=ikeys[:, 1], img_ino=ikeys[:, 2], img_ctime=ikeys[:, 3],
                    img_w=np.array([w for _, w, _ in i.values()], dtype=np.int64),
                    img_h=np.array([h for _, _, h in i.values()], dtype=np.int64),
                    memo_signature=np.array(self.memo_signature),
                    memo_report=np.array(self.memo_report),
                    memo_folders=np.array(self.memo_folders, dtype=str),
                    memo_images=np.array(self.memo_images, dtype=str),
                )  # fmt: skip
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
