"""The validator's own cache: which vector files were already checked and what image headers
said, keyed by each file's stat identity (``curalog-validate-cache.npz``); the last result with
what an incremental run changes (``-memo.npz``); and what it reads unchanged, written by full runs
only (``-snapshot.npz``). A nightly run writes only the memo file. Three ``.npz`` files under
``data/`` (arrays only, no pickle), each replaced atomically; safe to delete. Failing to
read or write them only makes the next run slower. Writing them is the validator's only write,
and it is not audited: ``validate`` promises to leave every other file, the audit log included,
untouched.
"""

from __future__ import annotations

import io
import os
import secrets
import zipfile
import zlib
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import BinaryIO
from zipfile import BadZipFile

import numpy as np

from curalog.errors import CuralogError
from curalog.files import Writer, open_regular, write_file
from curalog.validate.memo import checked_idents, vector_digest
from curalog.validate.vectors import CacheEntry, Checked

CACHE_NAME = "curalog-validate-cache.npz"
MEMO_NAME = "curalog-validate-cache-memo.npz"
SNAPSHOT_NAME = "curalog-validate-cache-snapshot.npz"
# what reading a cache that is not one (cut short, from another version, not a zip) raises
UNREADABLE = (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, EOFError, zlib.error,
              UnicodeDecodeError, BadZipFile)  # fmt: skip

RESUME = "resume_"  # the prefix of the arrays ``resume`` keeps
# what an incremental run changes in them (kept in the memo file; the rest, written by full runs
# only, in the snapshot file; both carry the same "id")
RESUMED = frozenset({"rest", "vectors", "logs", "sel_session", "sel_set", "sel_path", "sel_line",
                     "crop_session", "crop_set", "crop_path", "crop_box", "crop_line"})  # fmt: skip
VectorKey = tuple[int, int, int, int]  # ``files.stat_key``
ImageKey = tuple[int, int, int, int]  # size, mtime_ns, inode, ctime_ns


def _encode(paths: list[str]) -> np.ndarray:
    """Paths as UTF-8 bytes; a name that is not UTF-8 on disk (surrogate escapes) round-trips."""
    return np.array([p.encode("utf-8", "surrogateescape") for p in paths], dtype=bytes)


def _decode(values: np.ndarray) -> list[str]:
    return [b.decode("utf-8", "surrogateescape") for b in values.tolist()]


def _hashes_of(names: list[str]) -> list[str]:
    """The content hashes of vector files' names (``<hash>.npy``); ValueError for another name
    (then the cache is not read: it is not one this code wrote)."""
    if not all(name.endswith(".npy") for name in names):
        raise ValueError("a vector file name that is not <hash>.npy")
    return [name[:-4] for name in names]


class NotKept(Exception):
    """Raised by a snapshot's arrays (``snapshot.capture``) for a text it cannot keep (a NUL in
    it, or too long): no snapshot is written, and the next run is a full one."""


class ValidateCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.memo_path = path.with_name(MEMO_NAME)
        self.snapshot_path = path.with_name(SNAPSHOT_NAME)
        # verdicts on vector files, by content hash (a vector file is ``<hash>.npy``), as the
        # arrays check_files returns
        self.vector_hashes: list[str] = []
        self.vector_checked = Checked.empty()
        self._vector_entries: dict[str, CacheEntry] | None = None
        # canonical image path -> (key, width, height)
        self.images: dict[str, tuple[ImageKey, int, int]] = {}
        # canonical image path -> (key, sha256): images hashed to settle a shared file name
        self.hashes: dict[str, tuple[ImageKey, str]] = {}
        self.changed = False  # the per-file entries (save writes them)
        self.memo_changed = False  # the memo (save writes it)
        self.snapshot_id = ""  # what ties the snapshot file to the memo file's part of ``resume``
        # The last full result and the stat signature of every input it was computed from.
        self.memo_signature = ""
        self.memo_report = ""
        self.memo_folders: list[str] = []
        self.memo_images: list[str] = []
        # verify's last report and the stat signature of what it read (``verdicts``)
        self.verify_signature = ""
        self.verify_report = ""
        # what an incremental run needs (``resume``); None: not read (kept as it is when saved)
        self.resume: dict[str, np.ndarray] | None = None

    def load_resume(self) -> dict[str, np.ndarray]:
        """The arrays ``snapshot.capture`` made ({} when there are none, or when the memo file's
        part and the snapshot file's are not of one run)."""
        if self.resume is None:
            self.resume = {}
            try:
                static, resumed = _arrays(self.snapshot_path, ""), _arrays(self.memo_path, RESUME)
                ident = str(static.pop("snapshot_id", ""))
                if ident and ident == str(resumed.pop("id", "")):
                    self.resume, self.snapshot_id = {**static, **resumed}, ident
            except UNREADABLE:
                pass
        return self.resume

    def vector_entries(self) -> dict[str, CacheEntry]:
        """File name -> (stat key, length, problem) of every cacheable verdict (built once)."""
        if self._vector_entries is None:
            self._vector_entries = self.vector_checked.cache_entries(self.vector_names)
        return self._vector_entries

    @property
    def vector_names(self) -> list[str]:
        """The vector files' names (only built when asked: at ten times the seed they are 90 MB)."""
        return [digest + ".npy" for digest in self.vector_hashes]

    def set_vectors(self, hashes: list[str], checked: Checked) -> None:
        """The verdicts ``checked`` on the files ``<hash>.npy`` of ``hashes``, in their order."""
        self.vector_hashes, self.vector_checked, self._vector_entries = hashes, checked, None
        self.changed = True

    def learn_vectors(self, learned: dict[str, CacheEntry]) -> None:
        """Merge verdicts read elsewhere (``verify``) into the cached ones, by file name: a learned
        entry replaces the cached one of that name, the others are kept as they were."""
        if not learned:
            return
        entries = {**self.vector_entries(), **{n: e for n, e in learned.items() if n.endswith(".npy")}}
        hashes = _hashes_of(list(entries))
        values = list(entries.values())
        checked = Checked(
            np.array([length for _k, length, _p in values], dtype=np.int64),
            np.array([key for key, _n, _p in values], dtype=np.int64).reshape(-1, 4),
            {i: problem for i, (_k, _n, problem) in enumerate(values) if problem},
        )
        self.set_vectors(hashes, checked)

    def vector_idents(self) -> list[str]:
        """ "name size mtime_ns inode ctime_ns" of every cached verdict (the memo signature's part)."""
        return checked_idents(self.vector_names, self.vector_checked.keys.tolist())

    def vector_digest(self) -> str:
        """``vector_digest`` of the checked files, taken where they were checked (with the temp
        files); read back from the cache file it has no temp files (never equal to a memo's)."""
        return self.vector_checked.digest or vector_digest(self.vector_idents())

    def load_memo(self) -> None:
        """Only the last results and their signatures (cheap: no per-file entries)."""
        try:
            with os.fdopen(open_regular(self.memo_path), "rb") as fh, np.load(fh, allow_pickle=False) as z:
                self.memo_signature = str(z["memo_signature"])
                self.memo_report = zlib.decompress(z["memo_report_z"].tobytes()).decode("utf-8")
                self.memo_folders = _decode(z["memo_folders"])
                self.memo_images = _decode(z["memo_images"])
        except UNREADABLE:
            self.memo_signature = ""
        try:
            with os.fdopen(open_regular(self.path), "rb") as fh, np.load(fh, allow_pickle=False) as z:
                if "verify_signature" in z.files and "verify_report_z" in z.files:
                    self.verify_signature = str(z["verify_signature"])
                    self.verify_report = zlib.decompress(z["verify_report_z"].tobytes()).decode("utf-8")
        except UNREADABLE:
            self.verify_signature = ""

    def remember(self, signature: str, report: str, folders: list[str], images: list[str],
                 resume: dict[str, np.ndarray], snapshot_id: str | None = None) -> None:  # fmt: skip
        """The result to reuse while ``signature`` holds, and what an incremental run needs:
        ``resume``'s ``RESUMED`` arrays, tied to the snapshot file ``snapshot_id`` names (None:
        the one loaded; "": none, no incremental run next)."""
        self.memo_signature, self.memo_report = signature, report
        self.memo_folders, self.memo_images, self.resume = folders, images, resume
        self.memo_changed = True
        if snapshot_id is not None:
            self.snapshot_id = snapshot_id

    def forget(self) -> None:
        """No result to reuse (the inputs changed while it was computed)."""
        self.remember("", "", [], [], {}, "")

    def write_snapshot(self, arrays: Iterable[tuple[str, np.ndarray]]) -> str:
        """Write the snapshot file (``snapshot.capture``'s arrays, each written as it comes: an
        npz as ``numpy.savez`` writes it) under a new id; returns it ("": a text could not be
        kept, or not written). Written before the memo that names it: a memo never names a
        snapshot not yet written, and a crash between the two leaves ids that differ."""
        ident = secrets.token_hex(8)

        def write(fh: BinaryIO) -> None:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as npz:
                for name, array in chain([("snapshot_id", np.array(ident))], arrays):
                    with npz.open(f"{name}.npy", "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)

        try:
            return ident if _write(self.snapshot_path, write) else ""
        except NotKept:
            return ""

    def load(self) -> None:
        """The per-file entries: vector checks and image sizes."""
        try:
            with os.fdopen(open_regular(self.path), "rb") as fh, np.load(fh, allow_pickle=False) as z:
                hashes = _hashes_of(z["vec_name"].astype(str).tolist())
                at, text = z["vec_problem_at"].tolist(), z["vec_problem"].tolist()
                checked = Checked(
                    z["vec_len"].astype(np.int64), z["vec_key4"].astype(np.int64).reshape(-1, 4),
                    dict(zip(at, text, strict=True)),
        )  # fmt: skip
                if not len(hashes) == len(checked.lengths) == len(checked.keys):
                    raise ValueError("vector arrays of different lengths")
                if len(checked.lengths) and checked.lengths.min() < -1:  # -1: not a vector; else a length
                    raise ValueError("a vector length no check gives")
                ikeys = zip(
                    z["img_size"].tolist(), z["img_mtime"].tolist(), z["img_ino"].tolist(),
                    z["img_ctime"].tolist(), strict=True,
        )  # fmt: skip
                self.images = {
                    p: (k, w, h)
                    for p, k, w, h in zip(
                        _decode(z["img_path"]),
                        ikeys,
                        z["img_w"].tolist(),
                        z["img_h"].tolist(),
                        strict=True,
                    )
                }
                hkeys = z["hash_key"].astype(np.int64).reshape(-1, 4).tolist()
                self.hashes = {
                    p: (tuple(k), d)  # type: ignore[misc]
                    for p, k, d in zip(
                        _decode(z["hash_path"]),
                        hkeys,
                        z["hash_sha"].astype(str).tolist(),
                        strict=True,
                    )
                }
            self.vector_hashes, self.vector_checked, self._vector_entries = hashes, checked, None
        except UNREADABLE:
            self.vector_hashes, self.vector_checked, self._vector_entries = [], Checked.empty(), None
            self.images, self.hashes = {}, {}

    def save(self) -> None:
        """Write what changed: the per-file entries, the snapshot, the memo."""
        if self.memo_changed:
            self._save_memo()
        if not self.changed:
            return
        i = self.images
        checked = self.vector_checked
        keep = checked.keys[:, 0] != -1  # unreadable files are not remembered
        names = [n + ".npy" for n, k in zip(self.vector_hashes, keep.tolist(), strict=True) if k]
        renumber = np.cumsum(keep) - 1
        problems = {int(renumber[j]): p for j, p in checked.problems.items() if keep[j]}
        ikeys = np.array([k for k, _, _ in i.values()], dtype=np.int64).reshape(-1, 4)
        buf = io.BytesIO()
        np.savez(
            buf,
            vec_name=np.array(names, dtype=bytes),
            vec_len=checked.lengths[keep], vec_key4=checked.keys[keep],  # (before ctime: vec_key)
            vec_problem_at=np.array(list(problems), dtype=np.int64),
            vec_problem=np.array(list(problems.values()), dtype=str),
            img_path=_encode(list(i)),
            img_size=ikeys[:, 0], img_mtime=ikeys[:, 1], img_ino=ikeys[:, 2], img_ctime=ikeys[:, 3],
            img_w=np.array([w for _, w, _ in i.values()], dtype=np.int64),
            img_h=np.array([h for _, _, h in i.values()], dtype=np.int64),
            hash_path=_encode(list(self.hashes)),
            hash_key=np.array([k for k, _ in self.hashes.values()], dtype=np.int64).reshape(-1, 4),
            hash_sha=np.array([d for _, d in self.hashes.values()], dtype="S64"),
            verify_signature=np.array(self.verify_signature),
            verify_report_z=np.frombuffer(zlib.compress(self.verify_report.encode("utf-8"), 1), np.uint8),
        )  # fmt: skip
        _write(self.path, buf)

    def _save_memo(self) -> None:
        resume = self.load_resume() if self.snapshot_id else {}
        buf = io.BytesIO()
        np.savez(
            buf,
            memo_signature=np.array(self.memo_signature),
            # UTF-8, compressed: as a NumPy string the report took 4 bytes a character
            # (300k findings made a 354 MB cache)
            memo_report_z=np.frombuffer(zlib.compress(self.memo_report.encode("utf-8"), 1), np.uint8),
            memo_folders=_encode(self.memo_folders),
            memo_images=_encode(self.memo_images),
            **{RESUME + k: v for k, v in resume.items() if k in RESUMED},
            resume_id=np.array(self.snapshot_id if resume else ""),  # its snapshot file's id
        )  # fmt: skip
        _write(self.memo_path, buf)


def _arrays(path: Path, prefix: str) -> dict[str, np.ndarray]:
    """The arrays of a file whose names start with ``prefix``, without it."""
    with os.fdopen(open_regular(path), "rb") as fh, np.load(fh, allow_pickle=False) as z:
        return {k[len(prefix) :]: z[k] for k in z.files if k.startswith(prefix)}


def _write(path: Path, content: io.BytesIO | Writer) -> bool:
    """Whether it was written (``content``: the bytes, or what writes them)."""
    try:  # a cache: a read-only project or a full disk just means no cache next time
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            write_file(path, content, durable=False, own=True)
            return True
        with content.getbuffer() as view:  # no copy of a file of tens of MB
            write_file(path, view, durable=False, own=True)
    except (OSError, CuralogError):
        return False
    return True
