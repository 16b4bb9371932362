"""The real validator against the reference validator (tests/reference_validator.py: a plain,
loop-per-row reading of docs/findings.md and docs/legacy-formats.md that shares no code with
``curalog.validate``), on generated projects with random mixes of every path convention and every
defect (tests/project_gen.py). When the two disagree, the docs decide which one is wrong."""

from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curalog.validate import validate
from tests.legacy_project import build
from tests.project_gen import generate
from tests.reference_validator import reference_validate

POLICY_TOML = {"crops": "crop", "all": "all", "off": "off"}


def _real(root: Path) -> tuple[dict, Counter]:
    report = validate(root, use_cache=False)
    summary = report.to_dict()["summary"]
    return summary, Counter((f.code, f.severity, f.source, f.line, f.path) for f in report.findings)


def _agree(root: Path, policy: str = "crops") -> None:
    ref = reference_validate(root, policy)
    summary, findings = _real(root)
    expected = Counter(ref.findings)
    assert findings == expected, (
        sorted((findings - expected).elements()),
        sorted((expected - findings).elements()),
    )
    assert summary == ref.summary


def test_the_reference_reads_the_legacy_project_as_planted(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    planted = build(root)
    ref = reference_validate(root)
    assert {(code, source, line) for code, _sev, source, line, _path in ref.findings} == planted.findings
    assert (ref.summary["usable_selections"], ref.summary["usable_crops"]) == (
        planted.usable_selections,
        planted.usable_crops,
    )
    _agree(root)


@settings(
    max_examples=int(os.environ.get("REFERENCE_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rng=st.randoms(use_true_random=False), policy=st.sampled_from(sorted(POLICY_TOML)))
def test_the_validator_agrees_with_the_reference(rng: random.Random, policy: str) -> None:
    with tempfile.TemporaryDirectory(prefix="curalog-ref-") as tmp:
        root = Path(tmp) / "p"
        generate(root, rng)
        if policy != "crops":
            (root / "curalog.toml").write_text(f'[policy]\nrequire_embedding = "{POLICY_TOML[policy]}"\n')
        _agree(root, policy)
