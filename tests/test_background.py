"""The forked children of a validator run (``validate.background``): the caller's signal setup,
and a run that fails, leave none behind and never turn into an error of their own."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from curalog.validate import engine, validate
from tests.project_gen import generate


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    generate(tmp_path, random.Random(5), max_images=20, max_rows=30)
    assert _no_children_left()  # nothing of ours before
    return tmp_path


def test_a_caller_that_ignores_sigchld_gets_its_report(project: Path) -> None:
    """With SIGCHLD ignored (as a process started by some schedulers inherits it) the kernel
    reaps the children itself, and waiting for one finds none: that is no error."""
    expected = validate(project, use_cache=False)
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        first = validate(project)  # a full run: the file rules and the snapshot in a child
        again = validate(project)  # the memo, taken while a child stats the vector files
    finally:
        signal.signal(signal.SIGCHLD, old)
    assert first.findings == expected.findings == again.findings and again.reused


def test_a_failing_rule_leaves_no_child_behind(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(inputs, collect):
        raise RuntimeError("a rule failed")

    monkeypatch.setattr(engine, "DECISION_RULES", (*engine.DECISION_RULES[:1], failing))
    for _ in range(2):
        with pytest.raises(RuntimeError, match="a rule failed"):
            validate(project, use_cache=False)
    assert _no_children_left()


def test_a_failing_memo_run_leaves_no_child_behind(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a memo, the vector files are stat'ed in a child while the rest is checked: an error
    there (any bug, Ctrl-C) still reaps it."""
    validate(project)  # a memo to start from

    def failing(*args, **kwargs):
        raise RuntimeError("resume failed")

    monkeypatch.setattr(engine, "resume", failing)
    with pytest.raises(RuntimeError, match="resume failed"):
        validate(project)
    assert _no_children_left()
