"""Property tests: no generated decision that violates a rule is stored; every valid one
round-trips exactly. The oracle below is written independently of curalog's validation."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import curalog
from tests.conftest import make_image

W, H = 64, 48
PATHS = [f"p/s/img_stage{i}.png" for i in range(4)]

coord = st.one_of(
    st.integers(-10, 80).map(float),
    st.floats(-2, 80, allow_nan=False),
    st.sampled_from([0.0, 1.0, 0.5, float("nan"), float("inf"), -0.0, 64.0, 48.0]),
)
size = st.one_of(st.just((W, H)), st.tuples(st.integers(-2, 70), st.integers(-2, 70)))


def oracle_valid(box: tuple[float, ...], sizes: list[tuple[int, int]] | None, idx: int, n: int) -> bool:
    if not 0 <= idx < n:
        return False
    if sizes is not None and any(s != (W, H) for s in sizes):
        return False  # any size other than the file's is either <= 0 or a mismatch
    if not all(math.isfinite(v) for v in box):
        return False
    if all(0 <= v <= 1 for v in box):
        box = (box[0] * W, box[1] * H, box[2] * W, box[3] * H)
    x1, y1, x2, y2 = box
    if (x1, y1, x2, y2) == (0, 0, W, H):
        return False
    return 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H and x1 / W < x2 / W and y1 / H < y2 / H


@pytest.fixture(scope="module")
def proj():
    tmp = Path(tempfile.mkdtemp(prefix="curalog-prop-"))
    for i, p in enumerate(PATHS):
        make_image(tmp / p, (W, H), (40 * i, 100, 200))
    curalog.init_project(tmp)
    with curalog.open_project(tmp) as p:
        assert p.embed(PATHS).ok
        yield p
    shutil.rmtree(tmp)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 4),
    idx=st.integers(-1, 4),
    box=st.tuples(coord, coord, coord, coord),
    sizes=st.one_of(st.none(), st.lists(size, min_size=4, max_size=4)),
)
def test_stored_iff_valid_and_round_trips(proj, n, idx, box, sizes) -> None:
    paths = PATHS[:n]
    given_sizes = None if sizes is None else sizes[:n]
    before = proj.ledger.count()
    valid = oracle_valid(box, given_sizes, idx, n)
    with proj.session() as s:
        try:
            did = s.log_crop("set", "p/s", paths, idx, box, image_sizes=given_sizes)
        except curalog.DecisionRejected as exc:
            assert not valid, exc
            assert exc.problems
            assert proj.ledger.count() == before
            return
    assert valid, f"stored an invalid decision: {box} {given_sizes} {idx}"
    d = proj.ledger.decision(did)
    expected = box
    if all(0 <= v <= 1 for v in box):
        expected = (box[0] * W, box[1] * H, box[2] * W, box[3] * H)
    assert d.box == expected
    assert d.box_normalized == (expected[0] / W, expected[1] / H, expected[2] / W, expected[3] / H)
    assert d.chosen_idx == idx and [c.path for c in d.candidates] == paths
    assert all((c.width, c.height) == (W, H) for c in d.candidates)
