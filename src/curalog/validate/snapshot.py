"""What a full run keeps for the incremental runs after it (``validate.resume``), and reading it
back: each decision log's state (size, sha256, lines, whether lines may be appended), and what the
rules need to judge a new line the way the full run would (the listing, the index as placed, the
learned prefixes, which images have a sound vector and why the others have none, the hashes of
sound vectors, the repeat keys). Kept as arrays in the memo file (``cache.ValidateCache.resume``);
texts packed NUL-separated; a text with a NUL or over ``LONGEST`` characters means no snapshot.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import orjson

from curalog.config import Config
from curalog.files import open_regular, stat_key
from curalog.legacy.logs import LogRead
from curalog.paths import PathResolver, Resolution
from curalog.paths.index_placement import IndexView, names_of
from curalog.validate.cache import NotKept
from curalog.validate.index import Embedded, IndexRef, Ref
from curalog.validate.inputs import Inputs
from curalog.validate.memo import Ident, LogIdent
from curalog.validate.outcomes import Judged
from curalog.validate.prior import Prior

RESUME_VERSION = 2  # 2: the vector files' digest is kept in the memo file
LONGEST = 65_536  # the longest text (a path, a session id) kept
_LOWER_HEX = re.compile("[0-9a-f]*")


class LogState(NamedTuple):
    """A decision log as a run judged it."""

    ident: LogIdent  # as ``memo.log_idents`` gives it
    size: int
    sha256: str
    lines: int  # "\n"-ended lines
    appendable: bool  # read whole (header too), ends on a whole line, no ledger link past its end


def _pack(texts: list[str]) -> np.ndarray | None:
    """Texts as one UTF-8 blob, each ended by a NUL; None when one holds a NUL or is longer than
    ``LONGEST`` (then no incremental run: a 3 MB "path" in an index is not kept)."""
    text = "\0".join(texts) + "\0" if texts else ""
    if text.count("\0") != len(texts) or (texts and max(map(len, texts)) > LONGEST):
        return None
    return np.frombuffer(text.encode("utf-8", "surrogateescape"), np.uint8)


def unpack(blob: np.ndarray) -> list[str]:
    """The texts ``_pack`` packed."""
    return blob.tobytes().decode("utf-8", "surrogateescape").split("\0")[:-1]


def _texts_of_keys(prior: Prior) -> dict[str, list[str]]:
    sel, crop = list(prior.selections), list(prior.crops)
    return {
        "sel_session": [k[0] for k in sel], "sel_set": [k[1] for k in sel], "sel_path": [k[2] for k in sel],
        "crop_session": [k[0] for k in crop], "crop_set": [k[1] for k in crop],
        "crop_path": [k[2] for k in crop],
    }  # fmt: skip


def _arrays_of_keys(prior: Prior) -> dict[str, np.ndarray]:
    return {
        "sel_line": np.array(list(prior.selections.values()), dtype=np.int64),
        "crop_box": np.array([k[3] for k in prior.crops], dtype=np.float64).reshape(-1, 4),
        "crop_line": np.array(list(prior.crops.values()), dtype=np.int64),
    }


def prior_of(snap: dict[str, np.ndarray]) -> Prior:
    """The repeat keys ``capture`` kept."""
    sel = zip(unpack(snap["sel_session"]), unpack(snap["sel_set"]), unpack(snap["sel_path"]), strict=True)
    boxes = map(tuple, snap["crop_box"].tolist())
    crop = zip(unpack(snap["crop_session"]), unpack(snap["crop_set"]), unpack(snap["crop_path"]), boxes,
               strict=True)  # fmt: skip
    return Prior(dict(zip(sel, snap["sel_line"].tolist(), strict=True)),
                 dict(zip(crop, snap["crop_line"].tolist(), strict=True)))  # fmt: skip


def with_keys(arrays: dict[str, np.ndarray], prior: Prior) -> dict[str, np.ndarray] | None:
    """``arrays`` with the repeat keys of ``prior`` packed in; None when a key cannot be."""
    packed = {name: _pack(values) for name, values in _texts_of_keys(prior).items()}
    if any(blob is None for blob in packed.values()):
        return None
    return {**arrays, **packed, **_arrays_of_keys(prior)}  # type: ignore[dict-item]


def log_states(idents: list[LogIdent], reads: list[LogRead], linked: dict[str, int]) -> list[LogState]:
    """The state of each decision log (``reads``, in ``DECISION_LOGS`` order) as read now;
    ``linked``: source -> the last line of it the ledger links (``linked_lines``)."""
    return [
        _state(ident, read, linked.get(read.source, 0)) for ident, read in zip(idents, reads, strict=True)
    ]


def read_whole(read: LogRead) -> bool:
    """Whether a log was read (its header too: a header not read means no line was)."""
    return read.exists and read.problem is None and not any(m.line == 1 for m in read.malformed)


def _state(ident: LogIdent, read: LogRead, linked: int) -> LogState:
    size, sha, lines, ends_whole, st = _scanned(Path(ident[0]))
    whole = read_whole(read) and ident[2] is None and st == ident[1] and ends_whole
    return LogState(ident, size, sha, lines, whole and linked <= lines)


def _scanned(path: Path) -> tuple[int, str, int, bool, Ident | None]:
    """What ``read_log`` would give of a log, read a chunk at a time (a log of millions of lines
    is never held whole): its size, sha256, "\n"-ended lines, whether it ends on a whole line,
    and its identity (an empty reading and None when it did not hold still while read)."""
    digest, counted = hashlib.sha256(), [0, 0, b""]  # size, lines, last byte

    def take(chunk: bytes) -> None:
        digest.update(chunk)
        counted[:] = counted[0] + len(chunk), counted[1] + chunk.count(b"\n"), chunk[-1:]

    ident = _read_still(path, take, 1 << 22)
    if ident is None:
        return 0, hashlib.sha256().hexdigest(), 0, True, None
    size, lines, last = counted
    return size, digest.hexdigest(), lines, last in (b"", b"\n"), ident


def blob_of(states: list[LogState]) -> np.ndarray:
    return np.frombuffer(orjson.dumps([list(s) for s in states]), np.uint8)


def read_log(path: Path) -> tuple[bytes, Ident | None]:
    """The file's bytes and its identity, when it held still while read (else (b"", None))."""
    chunks: list[bytes] = []
    ident = _read_still(path, chunks.append, -1)  # one read: the whole file, no copy
    return (chunks[0] if chunks else b"", ident) if ident is not None else (b"", None)


def _read_still(path: Path, take: Callable[[bytes], None], chunk: int) -> Ident | None:
    """Read a regular file ``chunk`` bytes at a time (-1: at once), each to ``take``; its
    identity, or None when it cannot be opened or did not hold still while read (its identity
    changed, or fewer bytes came than it had)."""
    try:
        fd = open_regular(path)
    except OSError:
        return None
    size = 0
    with os.fdopen(fd, "rb") as fh:
        before = os.fstat(fd)
        while data := fh.read(chunk):
            take(data)
            size += len(data)
        after = os.fstat(fd)
    ident = stat_key(before)
    return ident if ident == stat_key(after) and size == before.st_size else None


def capture(inputs: Inputs) -> Iterator[tuple[str, np.ndarray]]:
    """The part of the snapshot a full run writes once its inputs are read (the snapshot file),
    array by array as the writer asks (each packed, written and let go: at ten times the seed
    they are ~400 MB together): what a later run needs to judge appended lines as this run
    would, except the repeat keys, the log states and the signatures (``captured_keys``).
    Raises ``NotKept`` for a text it cannot keep (no incremental run then). Taken before the
    rules run: what they learn on the way (a machine prefix, an image linked by content) is
    only a shortcut a later run finds again."""
    resolver, embedded = inputs.resolver, inputs.embedded
    yield "version", np.array(RESUME_VERSION)
    yield "any_lines", np.array(bool(inputs.lines.refs))
    for name, texts in _texts(inputs, resolver, embedded):
        blob = _pack(texts)
        if blob is None:
            raise NotKept(name)
        yield name, blob
    hashes = _pack_hashes(embedded.sound_line_hashes())
    if hashes is None:
        raise NotKept("sound_hash")
    yield from hashes.items()


def _texts(inputs: Inputs, resolver: PathResolver, embedded: Embedded) -> Iterator[tuple[str, list[str]]]:
    """The snapshot's texts, one list at a time."""
    view, prefixes = resolver.index_view(), resolver.learned_prefixes()
    first, shared = resolver.by_name()
    yield "listing", inputs.listing
    yield "name", list(first)
    yield "named", list(first.values())
    yield "shared_name", [name for name, paths in shared.items() for _p in paths]
    yield "shared_path", [p for paths in shared.values() for p in paths]
    yield "prefix_head", [head for head, _inner in prefixes]
    yield "prefix_inner", ["/".join(inner) for _head, inner in prefixes]
    yield "alias_key", list(view.aliases)
    yield "alias_to", [r.canonical if r is not None else "" for r in view.aliases.values()]
    yield "gone", list(view.gone)
    yield "contested", list(view.contested)
    yield "contested_hash", [h or "" for h in view.contested.values()]
    yield "sound", list(embedded.sound)
    yield "problem_path", list(embedded.problems)
    yield "problem", [t or "" for t in embedded.problems.values()]
    yield "tops", list(resolver.listed_tops())
    yield "top_dirs", list(inputs.top_dirs)


def captured_keys(judged: Judged, rest: str, vectors: str, states: list[LogState]) -> dict[str, np.ndarray]:
    """The rest of the snapshot, once the rules ran (the memo file): the signatures of the other
    inputs and of the vector files, each log's state, the repeat keys; {} when a key cannot be
    kept."""
    prior = Prior()
    prior.learn(judged.firsts)
    arrays = {"rest": np.array(rest), "vectors": np.array(vectors), "logs": blob_of(states)}
    return with_keys(arrays, prior) or {}


def state_of(data: list) -> LogState:
    (path, ident, problem), size, sha, lines, appendable = data
    return LogState(
        (path, tuple(ident) if ident is not None else None, problem), size, sha, lines, appendable
    )


def _pack_hashes(hashes: list[str]) -> dict[str, np.ndarray] | None:
    """Content hashes as 32 bytes each when they are all sha256 hex (the index's own form),
    else as texts."""
    text = "".join(hashes)
    if len(text) == 64 * len(hashes) and _LOWER_HEX.fullmatch(text):
        return {"sound_hash_raw": np.frombuffer(bytes.fromhex(text), np.uint8)}
    packed = _pack(hashes)
    return {"sound_hash": packed} if packed is not None else None


class SoundHashes:
    """``Embedded``'s by-content look-up over the hashes of sound vectors (read when first asked)."""

    def __init__(self, snap: dict[str, np.ndarray]) -> None:
        self.snap = snap
        self.hashes: set[str] | None = None

    def get(self, digest: str, /) -> Ref | None:
        if self.hashes is None:
            if "sound_hash_raw" in self.snap:
                text = self.snap["sound_hash_raw"].tobytes().hex()
                self.hashes = {text[i : i + 64] for i in range(0, len(text), 64)}
            else:
                self.hashes = set(unpack(self.snap["sound_hash"]))
        return IndexRef(digest, None, "", None) if digest in self.hashes else None


def resolver_of(config: Config, snap: dict[str, np.ndarray], listing: list[str],
              hash_of: Callable[[str], str | None]) -> PathResolver:  # fmt: skip
    """The resolver as the full run left it: its listing, its index view, its prefixes."""
    resolver = PathResolver(config.root, listing=listing, hash_of=hash_of)
    aliases = {
        k: Resolution(t, "index (content-hash)", True) if t else None
        for k, t in zip(unpack(snap["alias_key"]), unpack(snap["alias_to"]), strict=True)
    }
    gone = frozenset(unpack(snap["gone"]))
    contested = dict(zip(unpack(snap["contested"]), [h or None for h in unpack(snap["contested_hash"])],
                         strict=True))  # fmt: skip
    prefixes = [
        (head, tuple(inner.split("/")) if inner else ())
        for head, inner in zip(unpack(snap["prefix_head"]), unpack(snap["prefix_inner"]), strict=True)
    ]
    view = IndexView([], aliases, gone, names_of(gone), contested)
    shared: dict[str, set[str]] = {}
    for name, path in zip(unpack(snap["shared_name"]), unpack(snap["shared_path"]), strict=True):
        shared.setdefault(name, set()).add(path)
    first = dict(zip(unpack(snap["name"]), unpack(snap["named"]), strict=True))
    resolver.adopt(view, prefixes, set(unpack(snap["tops"])), (first, shared))
    return resolver
