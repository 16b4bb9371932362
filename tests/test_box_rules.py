"""The crop-box rule is defined once (``curalog.boxes``) and runs in two forms: the scalar check
the ledger runs when a decision is written (``ledger.checks.check_box``, through
``boxes.box_code``) and the column masks the validator runs over a whole log (``BOX_RULES``).
Both must give the verdict of the plain reference written from docs/findings.md
(``tests/reference_validator.box_finding``, which shares no code with either) on every box."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from curalog.boxes import BOX_RULES, BoxColumns
from curalog.errors import Problem
from curalog.ledger.checks import check_box
from tests.reference_validator import box_finding

values = st.one_of(
    st.floats(min_value=-5, max_value=5000),
    st.sampled_from([0.0, 1.0, 0.5, 0.25, -0.0, 64.0, 48.0, 100.0, 5e-324]),
    st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    st.floats(min_value=0, max_value=1),
)
sizes = st.integers(min_value=1, max_value=4000)


def column_verdict(box: tuple[float, ...], width: int, height: int) -> str | None:
    cols = BoxColumns(*(np.array([v], dtype=np.float64) for v in box), np.array([width], np.float64),
                      np.array([height], np.float64))  # fmt: skip
    for code, mask_of, _summary in BOX_RULES:
        if bool(mask_of(cols)[0]):
            return code
    return None


def scalar_verdict(box: tuple[float, ...], width: int, height: int) -> str | None:
    out = check_box(box, width, height)
    return out.code if isinstance(out, Problem) else None


@settings(max_examples=3000, deadline=None)
@given(st.tuples(values, values, values, values), sizes, sizes)
@example((0, 0, 1, 1), 64, 48)
@example((0, 0, 64, 48), 64, 48)
@example((0.1, 0.1, 0.9, 0.9), 64, 48)
@example((10, 10, 70, 40), 64, 48)
@example((float("nan"), 0, 1, 1), 64, 48)
@example((0.5, 0.5, 0.5, 0.9), 64, 48)
def test_the_scalar_and_the_column_box_rules_agree(box: tuple[float, ...], width: int, height: int) -> None:
    reference = box_finding(box, float(width), float(height), zero=False)  # type: ignore[arg-type]
    assert scalar_verdict(box, width, height) == column_verdict(box, width, height) == reference, (
        box,
        width,
        height,
    )
