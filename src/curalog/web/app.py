"""The local curation web app: a thin FastAPI layer over ``curalog.curation.Curator``.

Security model (a local tool that holds a person's data):
- it binds 127.0.0.1 unless told otherwise, and answers only requests whose Host header names
  the address it serves (no DNS rebinding from a web page);
- every ``/api`` route needs the per-run token in the ``X-Curalog-Token`` header (never a
  cookie, so a page on another site cannot make the browser send it): the writes, and the reads
  too, because ``/api/set`` starts embedding the set (vector files, audit lines) and the queue
  lists file names. The pages and ``/preview`` need no token: they write nothing (previews are
  made in memory), a foreign page cannot read them (the Host check, no CORS), and an ``<img>``
  cannot send a header;
- the image route serves image files under the root only, never through a link into a hidden
  or data folder (``paths.served_image``);
- request bodies are bounded (``MAX_BODY`` bytes, declared length required);
- pages allow scripts from this server only (Content-Security-Policy).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from curalog.curation import Curator, ImageSet, Outcome, PreviewCache
from curalog.errors import DecisionRejected, ImageError, PathError
from curalog.project import open_project

TOKEN_HEADER = "X-Curalog-Token"
MAX_BODY = 16 * 1024  # bytes: a decision is a few hundred
STATIC = Path(__file__).parent / "static"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class DecideBody(BaseModel):
    key: str = Field(max_length=2048)
    chosen: int
    box: list[float] | None = None  # normalized to the chosen image as seen; None: a selection
    suggested: str = Field("", max_length=512)  # the token of the suggestion shown ("": none)


class SkipBody(BaseModel):
    key: str = Field(max_length=2048)


class BodyLimit:
    """ASGI middleware: a request with a body must declare its length, at most ``limit``."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            status = None
            if declared is None:
                status, why = 411, "a Content-Length header is required"
            elif not declared.isdigit() or int(declared) > self.limit:
                status, why = 413, f"request bodies are limited to {self.limit} bytes"
            if status is not None:
                await JSONResponse({"detail": why}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def html_page(html: str) -> HTMLResponse:
    """A page: scripts from this server only, never cached (the queue changes with every save)."""
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def _problems(exc: DecisionRejected) -> list[dict[str, Any]]:
    images = {id(p): i for i, ps in exc.by_image.items() for p in ps}
    return [{"code": p.code, "message": p.message, "image": images.get(id(p))} for p in exc.problems]


def _outcome(out: Outcome) -> dict[str, Any]:
    return {
        "decision_id": out.decision_id, "kind": out.kind, "key": out.set_key, "box": out.box_pixels,
        "warnings": out.warnings, "embedded": out.embedded,
        "moved": [list(m) for m in out.moved], "not_moved": out.not_moved, "suggestion": out.suggestion,
    }  # fmt: skip


def session_cards(curator: Curator, now: float | None = None) -> dict[str, Any]:
    """The session summary the dashboard shows: decisions per hour, rejections, skipped."""
    s = curator.summary
    now = time.time() if now is None else now
    minutes = (now - s.started) / 60
    left = len(curator.queue())
    return {
        "since": datetime.fromtimestamp(s.started).astimezone().strftime("%Y-%m-%d %H:%M"),
        "cards": [
            ("Decisions", s.decisions, f"{s.crops} crops, {s.selections} selections, in {minutes:.0f} min"),
            ("Per hour", f"{s.per_hour(now):.0f}", "decisions per hour this session"),
            ("Rejected", s.rejections, "saves the ledger refused (nothing written)"),
            ("Skipped", s.skipped, "sets put to the back of the queue"),
            ("Undone", s.undone, "decisions retracted with Z"),
            ("Left", left, f"of {len(curator.sets)} sets"),
        ],
        "figures": {
            "decisions": s.decisions, "crops": s.crops, "selections": s.selections,
            "per_hour": s.per_hour(now), "rejections": s.rejections, "skipped": s.skipped,
            "undone": s.undone, "left": left,
        },
    }  # fmt: skip


def create_app(
    root: str | Path,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    move_files: bool | None = None,
    preview_side: int = 1024,
) -> FastAPI:
    """The app for the project at ``root``. ``token`` (default: a new random one) is needed in
    the ``X-Curalog-Token`` header of every write; ``app.state.token`` holds it."""
    project = open_project(root, tool="curalog serve")
    curator = Curator(project, move_files=move_files)
    previews = PreviewCache(project.root, max_side=preview_side)
    token = token or secrets.token_urlsafe(24)
    env = Environment(
        loader=PackageLoader("curalog.web", "templates"), autoescape=select_autoescape(["html", "j2"])
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        curator.close()
        project.close()

    app = FastAPI(title="curalog", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.token = token
    app.state.curator = curator
    app.state.previews = previews
    hosts = ["*"] if host in ("0.0.0.0", "::", "") else sorted({host, *LOCAL_HOSTS})
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(BodyLimit)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    require_token = _token_check(token)
    _add_pages(app, curator, env)
    _add_api(app, curator, previews, require_token)
    _add_suggestion_api(app, curator, require_token)
    return app


def _token_check(token: str) -> Any:
    """The dependency every /api route has: the run's token in the ``X-Curalog-Token`` header."""

    def require_token(x_curalog_token: str | None = Header(None)) -> None:
        if not x_curalog_token:
            raise HTTPException(
                401, f"this write needs the {TOKEN_HEADER} header (the token `curalog serve` printed)"
            )
        if not secrets.compare_digest(x_curalog_token.encode(), token.encode()):
            raise HTTPException(403, "wrong token: open the URL `curalog serve` printed for this run")

    return require_token


def set_json(curator: Curator, s: ImageSet) -> dict[str, Any]:
    """A set as the review page reads it: its variants with sizes and preview URLs, its status."""
    variants = []
    for i, (p, stage, size) in enumerate(zip(s.paths, s.stages, curator.sizes(s), strict=True)):
        variants.append({
            "idx": i, "path": p, "stage": stage, "width": size[0] if size else None,
            "height": size[1] if size else None, "preview": f"/preview?path={quote(p)}",
            "error": None if size else "cannot be read",
        })  # fmt: skip
    return {
        "key": s.key, "name": s.name, "directory": s.directory, "project": s.project,
        "status": curator.status(s.key), "variants": variants, "hidden": len(s.hidden),
    }  # fmt: skip


def _add_pages(app: FastAPI, curator: Curator, env: Environment) -> None:
    project = curator.project

    def page(name: str, **context: Any) -> HTMLResponse:
        return html_page(env.get_template(name).render(root=str(project.root), **context))

    # -- pages ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def queue_page(project_filter: str | None = Query(None, alias="project", max_length=256)) -> HTMLResponse:
        rows = [
            {"set": s, "status": curator.status(s.key), "decision": curator.done.get(s.key)}
            for s in curator.sets
            if project_filter is None or s.project == project_filter
        ]
        counts = {k: sum(r["status"] == k for r in rows) for k in ("left", "done", "skipped")}
        return page(
            "queue.html.j2", rows=rows, counts=counts, projects=curator.projects(),
            selected=project_filter, unmatched=curator.unmatched, pattern=curator.settings.set_pattern,
        )  # fmt: skip

    @app.get("/review", response_class=HTMLResponse)
    def review_page() -> HTMLResponse:
        return page("review.html.j2")

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page() -> HTMLResponse:
        from curalog.monitor.dashboard import render_dashboard
        from curalog.monitor.health import take_snapshot

        with curator.lock:
            result = take_snapshot(project, record=False)
            html = render_dashboard(
                project, result, session=session_cards(curator), nav=[("Queue", "/"), ("Review", "/review")]
            )
        return html_page(html)


def _add_api(app: FastAPI, curator: Curator, previews: PreviewCache, require_token: Any) -> None:
    # -- reads ------------------------------------------------------------------------------
    @app.get("/api/queue", dependencies=[Depends(require_token)])
    def api_queue(
        project_filter: str | None = Query(None, alias="project", max_length=256),
    ) -> dict[str, Any]:
        left = curator.queue(project_filter)
        return {
            "left": [s.key for s in left],
            "done": len(curator.done),
            "skipped": list(curator.skipped),
            "total": len(curator.sets),
            "projects": curator.projects(),
            "summary": session_cards(curator)["figures"],
        }

    @app.get("/api/set", dependencies=[Depends(require_token)])
    def api_set(key: str = Query(max_length=2048)) -> dict[str, Any]:
        try:
            found = curator.get(key)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        curator.prepare(key)  # embeds it in the background while the person looks
        return set_json(curator, found)

    @app.get("/api/summary", dependencies=[Depends(require_token)])
    def api_summary() -> dict[str, Any]:
        return session_cards(curator)["figures"]

    @app.get("/preview")
    def preview(path: str = Query(max_length=1024)) -> Response:
        try:
            data = previews.get(path)
        except PathError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ImageError as exc:
            raise HTTPException(422, str(exc)) from exc
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})

    # -- writes -----------------------------------------------------------------------------
    @app.post("/api/decide", dependencies=[Depends(require_token)])
    def api_decide(body: DecideBody) -> JSONResponse:
        try:
            out = curator.decide(body.key, body.chosen, body.box, body.suggested)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        except DecisionRejected as exc:
            return JSONResponse({"rejected": True, "problems": _problems(exc)}, status_code=422)
        return JSONResponse(_outcome(out))

    @app.post("/api/skip", dependencies=[Depends(require_token)])
    def api_skip(body: SkipBody) -> dict[str, Any]:
        try:
            curator.skip(body.key)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {"skipped": body.key}

    @app.post("/api/undo", dependencies=[Depends(require_token)])
    def api_undo() -> dict[str, Any]:
        undone = curator.undo()
        if undone is None:
            return {"undone": None}
        what, key = undone
        return {"undone": what, "key": key}

    @app.post("/api/rescan", dependencies=[Depends(require_token)])
    def api_rescan() -> dict[str, Any]:
        curator.rescan()
        return {"sets": len(curator.sets), "left": len(curator.queue())}


def _add_suggestion_api(app: FastAPI, curator: Curator, require_token: Any) -> None:
    @app.get("/api/suggestion", dependencies=[Depends(require_token)])
    def api_suggestion(key: str = Query(max_length=2048)) -> dict[str, Any]:
        """The model's suggestion for a set (its images embedded first), or why there is none."""
        try:
            found = curator.suggest(key)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        if isinstance(found, str):
            return {"suggestion": None, "note": found}
        return {"suggestion": {"model": found.model_id, "index": found.index, "box": found.box,
                               "token": found.token, "scores": found.scores}}  # fmt: skip


def url_for(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={quote(token)}"
