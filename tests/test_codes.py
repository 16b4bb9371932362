"""The code registry: every finding code once (curalog.codes), and no code used that it lacks."""

from __future__ import annotations

import re
from pathlib import Path

from curalog.codes import CODES, DROP_ORDER, PHRASES, RECOMMEND, RED_FLAGS, SEVERITY

SRC = Path(__file__).resolve().parents[1] / "src" / "curalog"
LITERAL = re.compile(r"""["']((?:row|path|crop|decision|embedding|image)\.[a-z_]+)["']""")


def test_every_code_literal_in_the_source_is_registered() -> None:
    used: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for code in LITERAL.findall(path.read_text(encoding="utf-8")):
            used.setdefault(code, []).append(path.relative_to(SRC).as_posix())
    unknown = {code: where for code, where in used.items() if code not in CODES}
    assert not unknown, f"codes used but not in curalog.codes: {unknown}"
    assert len(used) >= 15  # the scan sees the codes (a broken pattern would pass vacuously)


def test_each_table_is_derived_from_the_registry() -> None:
    assert set(SEVERITY) == set(PHRASES) == set(CODES)
    assert set(SEVERITY.values()) == {"error", "warning"}
    for code, phrase in PHRASES.items():
        assert phrase.format(name="log.csv", kind="decisions"), code
    assert set(RED_FLAGS) <= set(CODES) and set(RECOMMEND) <= set(CODES)
    assert DROP_ORDER[0] == "row.malformed" and len(set(DROP_ORDER)) == len(DROP_ORDER)
    assert all(CODES[c].drop_rank == i for i, c in enumerate(DROP_ORDER))


def test_validate_and_verify_give_one_fix_for_a_temp_file(tmp_path: Path) -> None:
    import curalog
    from curalog.codes import TEMP_FILE_FIX
    from curalog.embeddings.store import TEMP_PREFIX
    from curalog.validate import validate
    from tests.legacy_project import EMB
    from tests.legacy_project import build as build_legacy

    root = tmp_path / "p"
    build_legacy(root)
    (root / EMB / f"{TEMP_PREFIX}999999999-abcd-{'a' * 64}.npy").write_bytes(b"half a vector")
    found = [f for f in validate(root, use_cache=False).findings if TEMP_PREFIX in f.path]
    with curalog.open_project(root) as p:
        told = [x for x in p.verify().problems if TEMP_PREFIX in x.subject]
    assert [f.fix for f in found] == [x.fix for x in told] == [TEMP_FILE_FIX]
