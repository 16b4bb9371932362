"""The curation library and the web app's API: sets, decisions in real pixels, rejections that
write nothing, undo, moves, and the security rules (token, confined image route, bounded bodies)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import curalog
from curalog.curation import Curator, box_to_pixels, find_sets
from curalog.web import TOKEN_HEADER, create_app, start
from tests.conftest import make_curation_project, make_image

pytestmark = pytest.mark.usefixtures("both_backends")

TOKEN = "test-token"
BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(croot: Path) -> Iterator[TestClient]:
    with TestClient(create_app(croot, token=TOKEN), base_url=BASE, headers={TOKEN_HEADER: TOKEN}) as c:
        yield c


def auth() -> dict[str, str]:
    return {TOKEN_HEADER: TOKEN}


def ledger_rows(root: Path) -> list[tuple]:
    with curalog.open_project(root) as p:
        return [(d.id, d.kind, d.set_id, d.chosen.path, d.box) for d in p.ledger.decisions(retracted=True)]


# -- the queue ---------------------------------------------------------------------------------
def test_sets_are_grouped_by_pattern_in_stage_order(croot: Path) -> None:
    sets, unmatched = find_sets(croot, curalog.config.CurateSettings().set_pattern)
    by_key = {s.key: s for s in sets}
    assert list(by_key) == ["broken/d", "other/x", "shoot/raw/a", "shoot/raw/b", "shoot/raw/c"]
    a = by_key["shoot/raw/a"]
    assert a.paths == tuple(f"shoot/raw/a_stage{i}.png" for i in (1, 2, 3))
    assert a.stages == ("stage1", "stage2", "stage3") and (a.name, a.project) == ("a", "shoot")
    c = by_key["shoot/raw/c"]
    assert len(c.paths) == 4 and c.hidden == ("shoot/raw/c_stage5.png",)
    assert unmatched == 1  # notes.png; shoot/crop is an output folder and is not scanned


def test_a_custom_pattern_from_curalog_toml(croot: Path) -> None:
    (croot / "curalog.toml").write_text("[curate]\nset_pattern = '^(?P<set>[a-z])_'\n")
    with curalog.open_project(croot) as p:
        curator = Curator(p)
        assert [s.key for s in curator.sets][:1] == ["broken/d"] and len(curator.sets) == 5
    (croot / "curalog.toml").write_text("[curate]\nset_pattern = '(?P<nope>.)'\n")
    with pytest.raises(curalog.ConfigError, match="has no group named 'set'"):
        curalog.open_project(croot)


def test_queue_filters_by_project_and_knows_what_is_done(client: TestClient, croot: Path) -> None:
    q = client.get("/api/queue").json()
    assert q["total"] == 5 and len(q["left"]) == 5 and q["projects"] == ["broken", "other", "shoot"]
    assert client.get("/api/queue", params={"project": "other"}).json()["left"] == ["other/x"]
    # a decision logged outside the app (another tool, same files) marks the set done
    with curalog.open_project(croot) as p, p.session() as s:
        p.embed(["other/x_stage1.png", "other/x_stage2.png"])
        s.log_selection("legacy-id", "other", ["other/x_stage1.png", "other/x_stage2.png"], 1)
    client.post("/api/rescan", headers=auth())
    assert "other/x" not in client.get("/api/queue").json()["left"]
    page = client.get("/", params={"project": "other"})
    assert page.status_code == 200 and "1 done" in page.text and "0 left" in page.text


# -- decisions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "chosen", "box", "pixels", "size"),
    [
        ("shoot/raw/a", 1, [0.1, 0.25, 0.6, 0.75], (64, 120, 384, 360), (640, 480)),
        # stored 600x300, seen (and cropped) 300x600: the box is in the seen image's pixels
        ("shoot/raw/b", 0, [0.1, 0.25, 0.6, 0.75], (30, 150, 180, 450), (300, 600)),
    ],
)
def test_crop_is_stored_in_real_pixels(
    client: TestClient, croot: Path, key, chosen, box, pixels, size
) -> None:
    r = client.post("/api/decide", json={"key": key, "chosen": chosen, "box": box}, headers=auth())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["kind"] == "crop" and tuple(out["box"]) == pixels
    assert out["embedded"], "the set's images were embedded before the crop was logged"
    with curalog.open_project(croot) as p:
        d = p.ledger.decision(out["decision_id"])
        assert d.box == pixels and (d.chosen.width, d.chosen.height) == size
        assert d.set_id == key.rsplit("/", 1)[1] and d.directory == key.rsplit("/", 1)[0]
        assert d.chosen.stage == f"stage{chosen + 1}"
        assert p.embeddings.vector_problem(d.chosen.hash) is None
    assert key not in client.get("/api/queue").json()["left"]


def test_selection_without_box(client: TestClient, croot: Path) -> None:
    r = client.post("/api/decide", json={"key": "other/x", "chosen": 0, "box": None}, headers=auth())
    assert r.status_code == 200 and r.json()["kind"] == "selection" and r.json()["box"] is None
    assert [row[1:4] for row in ledger_rows(croot)] == [("selection", "x", "other/x_stage1.png")]
    again = client.post("/api/decide", json={"key": "other/x", "chosen": 1}, headers=auth())
    assert again.status_code == 422 and again.json()["problems"][0]["code"] == "row.duplicate"


def test_two_curators_on_one_set_the_second_is_told_and_moves_on(croot: Path) -> None:
    """Two servers (two machines, one shared ledger) show the same set; both save it. The second
    save stores nothing and answers 422 naming the first decision; its queue moves past the set."""
    first = TestClient(create_app(croot, token=TOKEN), base_url=BASE, headers={TOKEN_HEADER: TOKEN})
    second = TestClient(create_app(croot, token=TOKEN), base_url=BASE, headers={TOKEN_HEADER: TOKEN})
    with first, second:
        assert "other/x" in second.get("/api/queue").json()["left"]  # both think it is open
        r = first.post("/api/decide", json={"key": "other/x", "chosen": 0, "box": None})
        assert r.status_code == 200
        late = second.post("/api/decide", json={"key": "other/x", "chosen": 1, "box": None})
        assert late.status_code == 422, late.text
        problem = late.json()["problems"][0]
        assert problem["code"] == "row.duplicate" and "decided meanwhile" in problem["message"]
        assert f"decision {r.json()['decision_id']}" in problem["message"]
        assert "other/x" not in second.get("/api/queue").json()["left"]
    assert [row[1:4] for row in ledger_rows(croot)] == [("selection", "x", "other/x_stage1.png")]


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({"key": "shoot/raw/a", "chosen": 0, "box": [0.5, 0.5, 1.2, 0.9]}, ["crop.out_of_bounds"]),
        ({"key": "shoot/raw/a", "chosen": 0, "box": [0.5, 0.5, 0.501, 0.9]}, ["crop.invalid_box"]),
        ({"key": "shoot/raw/a", "chosen": 7, "box": None}, ["row.malformed"]),
        ({"key": "shoot/raw/a", "chosen": 0, "box": [0, 0, 1, 1]}, ["crop.placeholder"]),
    ],
)
def test_rejected_save_names_every_problem_and_writes_nothing(
    client: TestClient, croot: Path, body, codes
) -> None:
    r = client.post("/api/decide", json=body, headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["rejected"] and [p["code"] for p in r.json()["problems"]] == codes
    assert all(p["message"] for p in r.json()["problems"])
    assert ledger_rows(croot) == []
    assert client.get("/api/summary").json()["rejections"] == 1
    assert "shoot/raw/a" in client.get("/api/queue").json()["left"]


def test_crop_on_an_image_that_cannot_be_embedded_is_refused_with_the_reason(
    client: TestClient, croot: Path
) -> None:
    r = client.post(
        "/api/decide", json={"key": "broken/d", "chosen": 0, "box": [0.1, 0.1, 0.5, 0.5]}, headers=auth()
    )
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert [p["code"] for p in problems] == ["decision.no_embedding"]
    assert "computing it failed" in problems[0]["message"] and "truncated" in problems[0]["message"]
    assert ledger_rows(croot) == []
    # the other variant embeds fine: a crop on it is stored
    ok = client.post(
        "/api/decide", json={"key": "broken/d", "chosen": 1, "box": [0.1, 0.1, 0.5, 0.5]}, headers=auth()
    )
    assert ok.status_code == 200, ok.text


def test_undo_retracts_and_requeues(client: TestClient, croot: Path) -> None:
    first = client.post("/api/decide", json={"key": "shoot/raw/a", "chosen": 2}, headers=auth()).json()
    client.post("/api/skip", json={"key": "other/x"}, headers=auth())
    assert client.get("/api/queue").json()["left"][-1] == "other/x"  # skipped: back of the queue
    assert client.post("/api/undo", headers=auth()).json() == {"undone": "skip", "key": "other/x"}
    assert client.post("/api/undo", headers=auth()).json() == {"undone": "decision", "key": "shoot/raw/a"}
    assert client.post("/api/undo", headers=auth()).json() == {"undone": None}
    assert "shoot/raw/a" in client.get("/api/queue").json()["left"]
    rows = ledger_rows(croot)
    assert [r[0] for r in rows] == [first["decision_id"]]  # the row is kept...
    with curalog.open_project(croot) as p:
        assert list(p.ledger.decisions()) == []  # ...and left out
        (reason,) = p.db.conn.execute("SELECT reason FROM retractions").fetchone()
        assert "undone" in reason
    s = client.get("/api/summary").json()
    assert (s["decisions"], s["undone"], s["skipped"]) == (0, 1, 0)
    # decided again after the undo: a new row
    again = client.post("/api/decide", json={"key": "shoot/raw/a", "chosen": 0}, headers=auth()).json()
    assert again["decision_id"] != first["decision_id"]


def test_moves_are_audited_and_undone(croot: Path) -> None:
    with curalog.open_project(croot) as p:
        curator = Curator(p, move_files=True)
        out = curator.decide("shoot/raw/a", 1, (0.1, 0.1, 0.9, 0.9))
        assert out.moved == [
            ("shoot/raw/a_stage1.png", "shoot/trash/a_stage1.png"),
            ("shoot/raw/a_stage2.png", "shoot/crop/a_stage2.png"),
            ("shoot/raw/a_stage3.png", "shoot/trash/a_stage3.png"),
        ]
        assert (croot / "shoot/crop/a_stage2.png").is_file() and not (
            croot / "shoot/raw/a_stage2.png"
        ).exists()
        ops = [(e.data["operation"], e.data["files"], e.data["dest_dir"]) for e in p.audit.entries()]
        assert ("move", ["a_stage2.png"], "shoot/crop") in ops and (
            "send_to_trash",
            ["a_stage1.png"],
            "shoot/trash",
        ) in ops
        # shoot/crop/a_stage1.png existed before: never overwritten; the first variant's move is
        # to trash/, so nothing clashed. Now undo: every file goes back.
        assert curator.undo() == ("decision", "shoot/raw/a")
        for i in (1, 2, 3):
            assert (croot / f"shoot/raw/a_stage{i}.png").is_file()
        assert not (croot / "shoot/trash/a_stage1.png").exists()
        assert (
            sum(e.data["operation"] == "move" and "undo" in e.data["notes"] for e in p.audit.entries()) == 3
        )
        curator.close()


def test_a_move_never_replaces_a_file(croot: Path) -> None:
    make_image(croot / "shoot" / "selected" / "a_stage3.png", (10, 10), "pink")
    with curalog.open_project(croot) as p:
        curator = Curator(p, move_files=True)
        out = curator.decide("shoot/raw/a", 2)
        assert out.not_moved and "a_stage3.png" in out.not_moved[0]
        assert Image.open(croot / "shoot/selected/a_stage3.png").size == (10, 10)
        assert (croot / "shoot/raw/a_stage3.png").is_file()
        curator.close()


def test_box_to_pixels_rounds_and_refuses_junk() -> None:
    assert box_to_pixels([0, 0, 0.5, 0.5], 101, 99) == (0, 0, 50, 50)
    for bad in ([0.1, 0.2, 0.3], "0,0,1,1", [0.1, float("nan"), 0.3, 0.4], [True, 0, 1, 1]):
        with pytest.raises(curalog.DecisionRejected):
            box_to_pixels(bad, 100, 100)


# -- security --------------------------------------------------------------------------------
def test_every_api_route_needs_the_token_in_a_header(client: TestClient, croot: Path) -> None:
    body = {"key": "shoot/raw/a", "chosen": 0}
    none = {TOKEN_HEADER: ""}  # the client sends the token unless told otherwise
    assert client.post("/api/decide", json=body, headers=none).status_code == 401
    assert client.post("/api/decide", json=body, headers={TOKEN_HEADER: "wrong"}).status_code == 403
    client.cookies.set(TOKEN_HEADER, TOKEN)
    assert client.post("/api/decide", json=body, headers=none).status_code == 401  # a cookie is not enough
    for route in ("/api/skip", "/api/undo", "/api/rescan"):
        assert client.post(route, json={"key": "shoot/raw/a"}, headers=none).status_code == 401
    # reads too: /api/set starts embedding the set (an <img src> on a foreign page must not)
    for route in ("/api/set?key=other/x", "/api/queue", "/api/summary"):
        assert client.get(route, headers=none).status_code == 401
    with curalog.open_project(croot) as p:
        assert p.embeddings.entries() == []
    assert ledger_rows(croot) == [] and client.get("/api/summary").json()["skipped"] == 0


def test_image_route_is_confined_to_the_root(client: TestClient, croot: Path, tmp_path: Path) -> None:
    ok = client.get("/preview", params={"path": "shoot/raw/b_stage1.jpg"})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    from io import BytesIO

    assert Image.open(BytesIO(ok.content)).size == (300, 600)  # as seen: EXIF orientation applied
    outside = make_image(tmp_path / "secret.png", (8, 8))
    (croot / "shoot" / "link.png").symlink_to(outside)
    (croot / "shoot" / "dirlink").symlink_to(tmp_path, target_is_directory=True)
    make_image(croot / "data" / "hidden.png", (8, 8))
    make_image(croot / ".cache" / "x.png", (8, 8))
    (croot / "shoot" / "into_data.png").symlink_to(croot / "data" / "hidden.png")  # inside the root,
    (croot / "shoot" / "into_hidden.png").symlink_to("../.cache/x.png")  # but into what is never served
    (croot / "shoot" / "datalink").symlink_to(croot / "data", target_is_directory=True)
    os.mkfifo(croot / "shoot" / "pipe_stage1.png")
    for bad in ("../secret.png", "shoot/../../secret.png", str(outside), "/etc/passwd", "shoot/link.png",
                "shoot/dirlink/secret.png", "data/hidden.png", ".cache/x.png", "curalog.toml",
                "shoot/into_data.png", "shoot/into_hidden.png", "shoot/datalink/hidden.png",
                "shoot/pipe_stage1.png",
                "shoot/raw/./a_stage1.png", "shoot//raw/a_stage1.png", "shoot\\raw\\a_stage1.png",
                "shoot/raw/missing.png", "", "a" * 2000):  # fmt: skip
        r = client.get("/preview", params={"path": bad})
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert not r.headers["content-type"].startswith("image/"), bad
    raw = client.get("/preview?path=..%2F..%2Fsecret.png")
    assert raw.status_code == 404
    for undecodable in ("shoot%2Fraw%2Fa%FF.png", "shoot%2Fraw%2Fa%ED%A0%80.png"):  # not UTF-8; a surrogate
        assert client.get(f"/preview?path={undecodable}").status_code == 404
        assert client.get(f"/api/set?key={undecodable}").status_code == 404


def test_foreign_host_headers_are_refused(client: TestClient) -> None:
    assert client.get("/api/queue", headers={"Host": "evil.example:8765"}).status_code == 400
    assert client.get("/api/queue", headers={"Host": "localhost:8765"}).status_code == 200


def test_request_bodies_are_bounded(croot: Path) -> None:
    running = start(croot, port=0)
    try:
        for body, headers, status in (
            (b"{" + b" " * 20_000 + b"}", {"Content-Length": "20002"}, 413),
            (None, {"Transfer-Encoding": "chunked"}, 411),
        ):
            conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
            conn.putrequest("POST", "/api/decide")
            for k, v in {**headers, TOKEN_HEADER: running.token, "Content-Type": "application/json"}.items():
                conn.putheader(k, v)
            conn.endheaders()
            if body is not None:
                conn.send(body)
            else:
                conn.send(b'5\r\n{"a":\r\n0\r\n\r\n')
            resp = conn.getresponse()
            assert resp.status == status, (status, resp.read())
            conn.close()
    finally:
        running.stop()
    assert ledger_rows(croot) == []


def test_serve_command_prints_the_url_with_a_token(croot: Path) -> None:
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "curalog", "serve", "--root", str(croot), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "5 of 5 sets left" in lines[0], lines
        url = lines[1].split()[1]
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        token = url.split("?token=")[1]
        conn.request("GET", "/api/queue", headers={TOKEN_HEADER: token})
        assert json.loads(conn.getresponse().read())["total"] == 5
        conn.request("POST", "/api/undo", body=b"{}", headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_on_another_host_warns(croot: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "curalog", "serve", "--root", str(croot),
         "--host", "203.0.113.9", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "anyone who can reach this address can see" in out.stderr
    assert out.returncode == 2 and "cannot listen on 203.0.113.9" in out.stderr


def test_prepare_embeds_a_set_in_the_background(croot: Path) -> None:
    with curalog.open_project(croot) as p:
        curator = Curator(p)
        future = curator.prepare("other/x")
        assert future is not None
        future.result()
        for path in ("other/x_stage1.png", "other/x_stage2.png"):
            assert p.embeddings.vector_problem(p.facts.get(path).sha256) is None
        out = curator.decide("other/x", 0)
        assert out.embedded == []  # nothing was left to embed at save time
        assert curator.prepare("other/x") is None and curator.prepare("no/such") is None
        curator.close()


def test_pages_escape_file_and_folder_names(tmp_path: Path) -> None:
    """A file or folder name is text, never markup: on the queue page and the live dashboard."""
    root = make_curation_project(tmp_path / "a<i>b")
    make_image(root / "shoot" / "raw" / "<b>z_stage1.png", (40, 40), "red")
    with TestClient(create_app(root, token=TOKEN), base_url=BASE) as c:
        queue = c.get("/").text
        assert "&lt;b&gt;z" in queue and "<b>z" not in queue
        assert "a&lt;i&gt;b" in queue and "a<i>b" not in queue
        dashboard = c.get("/dashboard").text
        assert "a&lt;i&gt;b" in dashboard and "a<i>b" not in dashboard


def test_concurrent_saves_from_two_tabs(croot: Path) -> None:
    """Saves arriving at once (two tabs, a double click) are serialized: each set is decided once."""
    from concurrent.futures import ThreadPoolExecutor

    running = start(croot, port=0)

    def post(body: dict) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
        data = json.dumps(body).encode()
        conn.request("POST", "/api/decide", body=data,
                     headers={"Content-Type": "application/json", TOKEN_HEADER: running.token})  # fmt: skip
        status = conn.getresponse().status
        conn.close()
        return status

    bodies = [
        {"key": k, "chosen": 1} for k in ("shoot/raw/a", "shoot/raw/b", "shoot/raw/c", "other/x", "broken/d")
    ]
    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, bodies + bodies[:3]))
    finally:
        running.stop()
    assert sorted(statuses) == [200] * 5 + [422] * 3
    rows = ledger_rows(croot)
    assert len(rows) == 5 and len({r[2] for r in rows}) == 5
