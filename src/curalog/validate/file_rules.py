"""The file rules: the embedding index's lines against the vector files on disk, and the vector
files themselves (unnamed, unsound, of a length no line expects, temp files left behind)."""

from __future__ import annotations

from itertools import compress
from typing import NamedTuple

import numpy as np

from curalog.codes import TEMP_FILE_STATE
from curalog.validate import rules
from curalog.validate.index import MISSING, IndexLines, LineVerdicts, Vectors
from curalog.validate.inputs import Inputs
from curalog.validate.model import Finding
from curalog.validate.rules import Where


class FileFindings(NamedTuple):
    index_files: list[Finding]  # index lines whose vector file is gone or stale; temp files
    vector_files: list[Finding]  # vector files that are unnamed, unsound or of an unexpected length


def file_rules(inputs: Inputs) -> FileFindings:
    """The findings on the index's files and on the vector files."""
    verdicts = inputs.embedded.verdicts  # each index line's vector verdict, by position
    return FileFindings(_index_files(inputs, verdicts), _vector_files(inputs.lines, inputs.vectors, verdicts))


def _index_files(inputs: Inputs, verdicts: LineVerdicts) -> list[Finding]:
    """Index lines whose vector file is gone (and, with --deep, those whose image's bytes no
    longer have the hash they say), and temp files left behind."""
    found: list[Finding] = []
    vectors = inputs.vectors
    rel, on_disk = vectors.rel, vectors.files
    paths, refs, contents = inputs.lines.paths, inputs.lines.refs, inputs.contents
    check = range(len(refs)) if inputs.deep else np.flatnonzero(verdicts.lengths == MISSING).tolist()
    for i in check:
        canonical, ref = paths[i], refs[i]
        where = Where(ref.source, ref.line, canonical.split("/", 1)[0], canonical)
        if ref.hash not in on_disk:
            found.append(rules.embedding_file_missing(where, f"{rel}/{ref.hash}.npy"))
            continue
        actual = contents.get(canonical)
        if actual is not None and actual != ref.hash:
            found.append(rules.embedding_stale(where, ref.hash, actual))
    for name in sorted(vectors.temp_files):
        where = Where(rel, None, "", f"{rel}/{name}")
        found.append(rules.embedding_orphan_file(where, TEMP_FILE_STATE))
    return found


def _vector_files(lines: IndexLines, vectors: Vectors, verdicts: LineVerdicts) -> list[Finding]:
    """Vector files that are unnamed, unsound, or of a length no index line expects."""
    found: list[Finding] = []
    rel, on_disk = vectors.rel, vectors.files
    paths, refs, hashes = lines.paths, lines.refs, verdicts.hashes
    length, problems = vectors.length, vectors.problem
    suspects = set(on_disk - set(hashes))
    suspects.update(problems)
    suspects.update(compress(hashes, verdicts.unexpected.tolist()))  # a length no line expects
    suspects &= on_disk
    first_image: dict[str, str] = {}
    dims: dict[str, set[int]] = {}
    for i in [i for i, h in enumerate(hashes) if h in suspects]:
        first_image.setdefault(hashes[i], paths[i])
        if refs[i].dim:
            dims.setdefault(hashes[i], set()).add(refs[i].dim)  # type: ignore[arg-type]
    for digest in sorted(suspects):
        name = f"{digest}.npy"
        problem = problems.get(digest, "")
        expected = dims.get(digest)
        if not problem and expected and length[digest] not in expected:
            said = sorted(
                expected, key=lambda d: (not isinstance(d, int), d if isinstance(d, int) else 0, str(d))
            )
            problem = f"wrong length {length[digest]} (index says {', '.join(map(str, said))})"
        if not problem and digest in first_image:
            continue  # named, sound, and one of its index lines expects its length
        image = first_image.get(digest, "")
        where = Where(rel, None, image.split("/", 1)[0] if image else "", f"{rel}/{name}")
        if digest not in first_image:
            why = f"not a sound vector: {problem}" if problem else "sound"
            found.append(rules.embedding_orphan_file(where, why))
        if problem:
            found.append(rules.embedding_corrupt(where, problem, image))
    return found
