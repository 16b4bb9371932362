"""The docs are the contract: they must name what the code has, and only that.

- docs/cli.md lists every command and subcommand of the Typer app, and no command it lacks;
- docs/findings.md documents every finding code of ``curalog.codes.CODES`` (heading and summary
  table, with the registry's severity, red flag, drop rank and recommended command), and no code
  the registry lacks;
- no file of the repository points at the specs folder that used to live outside it;
- README.md links the docs, and every relative link in README.md and docs/ leads somewhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from curalog.cli import app
from curalog.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FINDINGS = DOCS / "findings.md"
CLI_DOC = DOCS / "cli.md"
README = ROOT / "README.md"
LINKED_FROM_README = ("docs/architecture.md", "docs/findings.md", "docs/legacy-formats.md", "docs/cli.md")

# A reference to the specs and the post-mortem outside the repository. Written so that this file
# does not match itself; folder names such as ``mojo1/shared/x.png`` do not match.
OUTSIDE = re.compile(r"\.\./shared\b|\bshared/(?:spec|seed)\b")
CODE_HEADING = re.compile(r"^### `([a-z]+\.[a-z_]+)`\s*$", re.MULTILINE)
CLI_ROW = re.compile(r"^\| `curalog ([a-z][a-z0-9 -]*)` \|", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _commands(command: object, prefix: str = "") -> set[str]:
    """Every command path of a Click/Typer command tree ("dataset build"), groups included."""
    found: set[str] = set()
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if getattr(sub, "hidden", False):
            continue
        path = f"{prefix}{name}"
        found.add(path)
        found |= _commands(sub, f"{path} ")
    return found


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole line) up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next(
        (i for i in range(start, len(lines)) if re.match(rf"^#{{1,{len(level)}}} ", lines[i])), len(lines)
    )
    return "\n".join(lines[start:end])


def _table(section: str) -> dict[str, list[str]]:
    """Rows of the markdown table in ``section`` whose first cell is a backquoted name: name -> cells."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_cli_command_is_documented() -> None:
    commands = _commands(typer.main.get_command(app))
    assert {"validate", "dataset build", "repair sizes"} <= commands  # the walk sees subcommands
    documented = set(CLI_ROW.findall(CLI_DOC.read_text(encoding="utf-8")))
    missing, stale = sorted(commands - documented), sorted(documented - commands)
    assert not missing, f"commands missing from docs/cli.md: {missing}"
    assert not stale, f"docs/cli.md names commands that do not exist: {stale}"


def test_every_finding_code_is_documented() -> None:
    text = FINDINGS.read_text(encoding="utf-8")
    headings = CODE_HEADING.findall(text)
    assert len(headings) == len(set(headings)), "a code is documented twice"
    missing, stale = sorted(set(CODES) - set(headings)), sorted(set(headings) - set(CODES))
    assert not missing, f"codes missing from docs/findings.md: {missing}"
    assert not stale, f"docs/findings.md documents codes that curalog.codes lacks: {stale}"
    table = _table(_section(text, "## Codes at a glance"))
    assert set(table) == set(CODES), "the summary table and curalog.codes.CODES disagree"
    for name, code in CODES.items():
        severity, _per, alert, drop_rank = table[name]
        assert severity.startswith(code.severity), f"{name}: severity {severity!r}, not {code.severity}"
        assert (alert == "red flag") == (code.red_flag is not None), f"{name}: red flag column"
        assert drop_rank == ("" if code.drop_rank is None else str(code.drop_rank)), f"{name}: drop rank"
        body = _section(text, f"### `{name}`")
        found = re.search(r"^- Severity: \*\*(error|warning)\*\*", body, re.MULTILINE)
        assert found and found.group(1) == code.severity, f"{name}: its section's severity"
        if code.fix:
            assert f"- Recommended: `{code.fix}`." in body, f"{name}: recommended command {code.fix!r}"
        else:
            assert "- Recommended:" not in body, f"{name}: codes.py recommends nothing"


def _repository_files() -> list[Path]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    names = sorted({n for n in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if n})
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def test_nothing_points_at_the_specs_outside_the_repository() -> None:
    files = _repository_files()
    assert any(f.name == "README.md" for f in files)
    hits = []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for n, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not hits, "point at docs/ instead:\n" + "\n".join(hits)


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_readme_links_the_docs_and_links_lead_somewhere() -> None:
    readme = README.read_text(encoding="utf-8")
    for target in LINKED_FROM_README:
        assert f"]({target})" in readme, f"README.md does not link {target}"
    broken = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):  # http:, mailto:
                continue
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)
