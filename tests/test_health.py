"""Health snapshots over simulated days, red-flag alerts that fire once, and the alert sinks."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

import curalog
from curalog.config import load_config
from curalog.errors import ConfigError
from curalog.monitor.alerts import send_alerts, send_test_alert
from curalog.monitor.health import history, take_snapshot
from curalog.monitor.nightly import check
from curalog.project import Project
from curalog.validate import validate
from tests.conftest import SET0, SET1, make_image

pytestmark = pytest.mark.usefixtures("both_backends")

DAY0 = datetime(2026, 3, 1, 6, 30, tzinfo=UTC)
CROP_LOG = "data/training/select_crop_log.csv"
CROP_HEADER = (
    "timestamp,session_id,set_id,directory,image_count,chosen_index,chosen_path,"
    "crop_x1,crop_y1,crop_x2,crop_y2,image_0_path,image_0_stage,width_0,height_0\n"
)


def _zero_size_crop(root: Path, n: int) -> None:
    """Append a legacy crop row with the dimension-logging bug's 0x0 size."""
    log = root / CROP_LOG
    if not log.exists():
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(CROP_HEADER)
    path = SET0[n % 3]
    with log.open("a") as fh:
        fh.write(
            f"2026-03-01T10:00:0{n % 10},s1,legacy_{n},mojo1/selected,1,0,{path},10,10,200,200,{path},x,0,0\n"
        )


def _selection(project: Project, n: int) -> None:
    with project.session(tool="test") as s:
        s.log_selection(f"set_{n}", "mojo1/selected", SET0 if n % 2 else SET1, n % 3)


def _sinks(root: Path, toml: str) -> None:
    cfg = root / "curalog.toml"
    cfg.write_text(cfg.read_text() + "\n" + toml)


# -- snapshots ----------------------------------------------------------------------------------
def test_snapshots_over_simulated_days_give_the_right_deltas(embedded: Project) -> None:
    first = take_snapshot(embedded, now=DAY0)
    assert first.figures.new_selections is None  # nothing to compare with yet
    assert first.previous is None
    for n in range(3):
        _selection(embedded, n)
    day1 = take_snapshot(embedded, now=DAY0 + timedelta(days=1))
    assert day1.figures.selections == 3
    assert (day1.figures.new_selections, day1.figures.compared_with) == (3, first.figures.taken_at)
    for n in range(3, 5):
        _selection(embedded, n)
    # twelve hours later: still compared with the snapshot at least 24 hours older (day 0)
    noon = take_snapshot(embedded, now=DAY0 + timedelta(days=1, hours=12))
    assert (noon.figures.new_selections, noon.figures.compared_with) == (5, first.figures.taken_at)
    assert noon.previous is not None and noon.previous.taken_at == day1.figures.taken_at
    _selection(embedded, 5)
    day2 = take_snapshot(embedded, now=DAY0 + timedelta(days=2))
    # the newest snapshot >= 24 h old is day 1 (the noon one is only 12 h old)
    assert (day2.figures.new_selections, day2.figures.compared_with) == (3, day1.figures.taken_at)
    assert day2.figures.selections_embedded == 6 and day2.figures.new_embeddings == 0
    assert [s.figures.taken_at for s in history(embedded)] == [
        first.figures.taken_at, day1.figures.taken_at, noon.figures.taken_at, day2.figures.taken_at,
    ]  # fmt: skip


def test_no_record_stores_nothing(embedded: Project) -> None:
    take_snapshot(embedded, now=DAY0, record=False)
    assert history(embedded) == []
    assert embedded.db.query("SELECT count(*) AS n FROM findings_seen")[0]["n"] == 0


def test_new_findings_counted_in_their_first_24_hours(embedded: Project, root: Path) -> None:
    take_snapshot(embedded, now=DAY0)
    _zero_size_crop(root, 1)
    day1 = take_snapshot(embedded, now=DAY0 + timedelta(days=1))
    assert day1.figures.new_errors == 1 and [f.code for f in day1.new_findings] == ["crop.zero_dimensions"]
    assert day1.figures.crops == 1 and day1.figures.crops_valid_size == 0
    peek = take_snapshot(embedded, now=DAY0 + timedelta(days=1, hours=1), record=False)
    assert peek.figures.new_errors == 1 and peek.new_findings == []  # still new today, not again
    day3 = take_snapshot(embedded, now=DAY0 + timedelta(days=3))
    assert day3.figures.new_errors == 0 and day3.figures.errors == 1  # still there, no longer new


def test_a_snapshot_keeps_the_validators_memo(embedded: Project, root: Path) -> None:
    _selection(embedded, 0)
    take_snapshot(embedded, now=DAY0)  # validates, then writes its snapshot to the database
    assert validate(root).reused  # the snapshot write did not look like a ledger change
    _selection(embedded, 1)
    assert not validate(root).reused  # a decision does


# -- alerts -------------------------------------------------------------------------------------
def test_each_red_flag_fires_once_over_ten_runs_and_again_for_a_new_instance(
    embedded: Project, root: Path
) -> None:
    out = root / "data" / "alerts.jsonl"
    _sinks(root, '[[alerts.sinks]]\ntype = "file"\npath = "data/alerts.jsonl"\n')
    _zero_size_crop(root, 1)
    fired: list[list[str]] = []
    for run in range(10):
        result = check(root, now=DAY0 + timedelta(hours=run))
        fired.append(sorted(a.code for a in result.alerts.alerts))
        assert result.exit_code == (1 if fired[-1] else 0)
    assert fired[0] == ["crop.zero_dimensions"] and all(f == [] for f in fired[1:])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["count"] == 1 and lines[0]["problems"][0]["line"] == 2
    # a second 0x0 row: announced, alone (the first is not repeated), plus the error rise
    _zero_size_crop(root, 2)
    result = check(root, now=DAY0 + timedelta(hours=11))
    assert sorted(a.code for a in result.alerts.alerts) == ["crop.zero_dimensions", "errors.rise"]
    new = next(a for a in result.alerts.alerts if a.code == "crop.zero_dimensions")
    assert [p["line"] for p in new.problems] == [3]
    assert check(root, now=DAY0 + timedelta(hours=12)).alerts.alerts == []


def test_a_problem_that_comes_back_is_announced_again(embedded: Project, root: Path) -> None:
    _sinks(root, '[[alerts.sinks]]\ntype = "file"\npath = "data/alerts.jsonl"\n')
    vector = embedded.embeddings.directory / f"{embedded.facts.get(SET0[0]).sha256}.npy"
    saved = vector.read_bytes()
    vector.unlink()
    first = check(root, now=DAY0)
    assert "embedding.file_missing" in {a.code for a in first.alerts.alerts}
    assert check(root, now=DAY0 + timedelta(hours=1)).alerts.alerts == []
    vector.write_bytes(saved)  # restored: the finding disappears and is forgotten
    assert check(root, now=DAY0 + timedelta(hours=2)).exit_code == 0
    vector.unlink()  # lost again: a new instance
    again = check(root, now=DAY0 + timedelta(hours=3))
    assert "embedding.file_missing" in {a.code for a in again.alerts.alerts}


def test_alert_says_what_where_since_when_and_the_fix(embedded: Project, root: Path) -> None:
    take_snapshot(embedded, now=DAY0)
    _zero_size_crop(root, 1)
    result = take_snapshot(embedded, now=DAY0 + timedelta(days=1))
    run = send_alerts(embedded, result, DAY0 + timedelta(days=1))
    alert = next(a for a in run.alerts if a.code == "crop.zero_dimensions")
    data = alert.to_dict()
    assert data["problems"][0]["source"] == CROP_LOG and data["problems"][0]["line"] == 2
    assert data["projects"] == {"mojo1": 1} and data["since"] == "2026-03-02T06:30:00Z"
    assert data["fix"] == "curalog repair sizes --apply"
    assert f"{CROP_LOG}:2" in data["text"] and "(mojo1)" in data["text"] and "repair sizes" in data["text"]
    rise = next(a for a in run.alerts if a.code == "errors.rise")
    assert "from 0 to 1" in rise.title and "crop.zero_dimensions +1" in rise.title


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:  # the http.server API's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"type": self.headers["Content-Type"], "json": json.loads(body)})
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    class Hook(_Hook):  # a fresh record per test
        received: ClassVar[list[dict]] = []

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Hook
    server.shutdown()
    thread.join()
    server.server_close()


def test_webhook_sink_posts_slack_compatible_json(embedded: Project, root: Path, webhook) -> None:
    url, hook = webhook
    _sinks(root, f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{url}"\n')
    _zero_size_crop(root, 1)
    result = check(root, now=DAY0)
    assert [d.ok for d in result.alerts.deliveries] == [True]
    assert len(hook.received) == 1 and hook.received[0]["type"] == "application/json"
    payload = hook.received[0]["json"]
    assert payload["code"] == "crop.zero_dimensions" and "0x0" in payload["text"]
    check(root, now=DAY0 + timedelta(hours=1))
    assert len(hook.received) == 1  # nothing new, nothing posted


def test_a_failing_sink_does_not_stop_the_others(
    embedded: Project, root: Path, webhook, tmp_path: Path
) -> None:
    url, hook = webhook
    hook.status = 500
    received = tmp_path / "stdin.json"
    script = f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"
    _sinks(
        root,
        f'[[alerts.sinks]]\ntype = "webhook"\nurl = "{url}"\n'
        '[[alerts.sinks]]\ntype = "command"\ncommand = ["false"]\nname = "broken"\n'
        '[[alerts.sinks]]\ntype = "webhook"\nurl = "http://127.0.0.1:9/nothing-listens"\ntimeout = 2\n'
        f'[[alerts.sinks]]\ntype = "command"\ncommand = {json.dumps([sys.executable, "-c", script])}\n'
        '[[alerts.sinks]]\ntype = "file"\npath = "data/alerts.jsonl"\n',
    )
    with curalog.open_project(root) as project:
        run = send_test_alert(project)
    results = [(d.ok, d.detail) for d in run.deliveries]
    assert results[0] == (False, "HTTP 500 Internal Server Error")
    assert results[1][0] is False and "exit status 1" in results[1][1]
    assert results[2][0] is False and "cannot reach" in results[2][1]
    assert results[3][0] is True and results[4][0] is True
    assert json.loads(received.read_text())["kind"] == "test"  # the command got the JSON on stdin
    assert json.loads((root / "data" / "alerts.jsonl").read_text())["kind"] == "test"
    assert [d.sink for d in run.failed][1] == "broken"


def test_sink_settings_name_every_problem(root: Path) -> None:
    _sinks(
        root,
        '[[alerts.sinks]]\ntype = "pager"\n'
        '[[alerts.sinks]]\ntype = "webhook"\nurl = "ftp://x"\n'
        '[[alerts.sinks]]\ntype = "command"\ncommand = []\ntimeout = -1\n'
        '[[alerts.sinks]]\ntype = "file"\npath = "a.jsonl"\nurl = "http://x"\n',
    )
    with pytest.raises(ConfigError) as exc:
        load_config(root)
    text = str(exc.value)
    for part in (
        "#1 type = 'pager'",
        "#2 url must be",
        "#3 timeout",
        "#3 command must",
        "#4 (file) unknown setting 'url'",
    ):
        assert part in text


def test_check_cli_is_quiet_when_all_is_well(embedded: Project, root: Path) -> None:
    import subprocess

    exe = [sys.executable, "-m", "curalog", "check", "--quiet", "--root", str(root)]
    first = subprocess.run(exe, capture_output=True, text=True)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    make_image(root / "mojo1" / "selected" / "new.png")
    _zero_size_crop(root, 1)
    bad = subprocess.run(exe, capture_output=True, text=True)
    assert bad.returncode == 1 and "0x0" in bad.stdout and f"{CROP_LOG}:2" in bad.stdout
    again = subprocess.run(exe, capture_output=True, text=True)
    assert (again.returncode, again.stdout) == (0, "")


def test_concurrent_checks_announce_each_problem_once(embedded: Project, root: Path) -> None:
    import subprocess

    _sinks(root, '[[alerts.sinks]]\ntype = "file"\npath = "data/alerts.jsonl"\n')
    take_snapshot(embedded, now=DAY0)
    for n in range(1, 4):
        _zero_size_crop(root, n)
    exe = [sys.executable, "-m", "curalog", "check", "--quiet", "--root", str(root)]
    runs = [subprocess.Popen(exe, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    codes = [r.wait() for r in runs]
    for r in runs:
        assert r.stderr is not None and r.stderr.read() == b""
    alerts = [json.loads(x) for x in (root / "data" / "alerts.jsonl").read_text().splitlines()]
    zero = [a for a in alerts if a["code"] == "crop.zero_dimensions"]
    assert sum(a["count"] for a in zero) == 3  # three problems, each announced by exactly one run
    assert sorted({p["line"] for a in zero for p in a["problems"]}) == [2, 3, 4]
    assert codes.count(1) >= 1 and set(codes) <= {0, 1}
