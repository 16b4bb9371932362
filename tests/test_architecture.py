"""The map in docs/architecture.md, checked: layers, no import cycle, module and function sizes,
and one owner per database table.

The layer of a module is the first entry of ``LAYERS`` whose name is the module or a package
above it. A module may import only from its own layer or below (any import of a ``curalog``
module, at the top or inside a function). Importing ``a.b`` runs ``a/__init__.py`` first, so
that edge counts too when looking for cycles.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[tuple[str, int]] = [
    # 0 foundations: no knowledge of decisions or vectors
    ("curalog.errors", 0), ("curalog.progress", 0), ("curalog.codes", 0), ("curalog.version", 0),
    ("curalog.files", 0), ("curalog.audit", 0), ("curalog.config", 0), ("curalog.images", 0),
    ("curalog.paths", 0), ("curalog.boxes", 0), ("curalog.ledger_url", 0), ("curalog.arrays", 0),
    # 1 storage and formats
    ("curalog.db", 1), ("curalog.ledger", 1), ("curalog.embeddings", 1),
    ("curalog.legacy.csvlines", 1), ("curalog.legacy.logs", 1), ("curalog.legacy.index", 1),
    # 2 the project: one object over config, ledger, store, audit and embedders
    ("curalog.project", 2),
    # 3 judgement
    ("curalog.validate", 3),
    # 4 products
    ("curalog.dataset", 4), ("curalog.monitor", 4), ("curalog.repair", 4), ("curalog.legacy", 4),
    ("curalog.curation", 4), ("curalog.interop", 4), ("curalog.doctor", 4), ("curalog.selftest", 4),
    ("curalog.demo", 4), ("curalog.training", 4),
    # 5 interfaces
    ("curalog.cli", 5), ("curalog.web", 5), ("curalog.__main__", 5),
    # the package itself: the public facade (imports down, imported by nothing inside)
    ("curalog", 6),
]  # fmt: skip

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

#: every SQL statement naming a table lives in its owner's modules
TABLE_OWNERS: dict[str, tuple[str, ...]] = {
    "decisions": ("curalog.ledger",),
    "candidates": ("curalog.ledger",),
    "suggestions": ("curalog.ledger",),
    "retractions": ("curalog.ledger",),
    "sessions": ("curalog.ledger",),
    "legacy_lines": ("curalog.ledger",),
    "quarantine": ("curalog.ledger",),
    "import_notes": ("curalog.ledger",),
    "repairs": ("curalog.ledger",),
    "embedding_index": ("curalog.embeddings.store",),
    "embed_failures": ("curalog.embeddings.store",),
    "file_facts": ("curalog.db.facts",),
    "snapshots": ("curalog.monitor.health",),
    "findings_seen": ("curalog.monitor.health",),
    "ledger_version": ("curalog.db",),
}
# The schema (tables, triggers) and the migrations name every table: they are the database's own.
SCHEMA_MODULES = ("curalog.db.schema", "curalog.db.connection")


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The curalog modules ``name`` imports (a name imported from a package that is a module of
    its own counts as that module)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from pkg import sub` needs the module pkg.sub; the package itself only when a name
            # is not a module of its own (then it is something pkg/__init__ defines or re-exports)
            subs = [f"{module}.{a.name}" for a in node.names]
            targets = subs + ([module] if not all(t in MODULES for t in subs) else [])
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} is on no layer of the map (add it to LAYERS and docs/architecture.md)")


def test_every_module_is_on_the_map() -> None:
    for module in MODULES:
        layer_of(module)


def test_arrows_only_point_down() -> None:
    upward = [
        f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
        for m, deps in sorted(GRAPH.items())
        for d in sorted(deps)
        if layer_of(d) > layer_of(m)
    ]
    assert not upward, "\n".join(upward)


def _with_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first: those are edges too,
    except to a package that holds the importing module (its ``__init__`` is already running)."""
    out: dict[str, set[str]] = {}
    for m, deps in graph.items():
        edges = set(deps)
        for d in deps:
            parts = d.split(".")
            edges |= {
                p for i in range(2, len(parts))
                if (p := ".".join(parts[:i])) in MODULES and not (m == p or m.startswith(p + "."))
            }  # fmt: skip
        out[m] = edges - {m}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    graph = _with_package_inits(GRAPH)
    # the package facade curalog/__init__ runs before every curalog module; it is the top, not a cycle
    graph = {m: deps - {"curalog"} for m, deps in graph.items()}
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _with_package_inits({"x": {"p.q.r"}}) == {"x": {"p.q.r"}}  # p and p.q are not modules here
    # ledger.ledger importing embeddings.store runs embeddings/__init__, which imports the store
    assert (
        "curalog.embeddings"
        in _with_package_inits({"curalog.ledger.ledger": {"curalog.embeddings.store"}})[
            "curalog.ledger.ledger"
        ]
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines (at most {MAX_MODULE_LINES}): split it"


def test_function_size() -> None:
    long = []
    for module, path in sorted(MODULES.items()):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
                n = (node.end_lineno or start) - start + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


_SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE(?: IF NOT EXISTS)?)\s+(\w+)", re.IGNORECASE)


def test_every_table_has_an_owner() -> None:
    schema = MODULES["curalog.db.schema"].read_text()
    tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema))
    assert tables and tables == set(TABLE_OWNERS), sorted(tables ^ set(TABLE_OWNERS))


def test_one_owner_per_table() -> None:
    """A SQL statement in a string names its tables after FROM/INTO/UPDATE/JOIN: each must be one
    its module owns."""
    strays = []
    for module, path in sorted(MODULES.items()):
        if module in SCHEMA_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", text) and not re.search(r"\bFROM\b", text):
                continue
            for table in _SQL_TABLE.findall(text):
                owners = TABLE_OWNERS.get(table)
                if owners is None:
                    continue  # not a table (json_each, a word in a message)
                if not any(module == o or module.startswith(o + ".") for o in owners):
                    strays.append(f"{module} names table {table} (owned by {', '.join(owners)})")
    strays = sorted(set(strays))
    assert not strays, "\n".join(strays)


def test_the_map_names_every_module() -> None:
    """docs/architecture.md names every module file (``name.py``, under its package's heading)
    and no file that is gone."""
    doc = (SRC.parents[0] / "docs" / "architecture.md").read_text()
    missing = [
        m for m, path in sorted(MODULES.items())
        if path.name != "__init__.py" and m != "curalog.__main__"
        and not re.search(rf"[`/]{re.escape(path.name)}`", doc)
    ]  # fmt: skip
    assert not missing, "not on the map: " + ", ".join(missing)
    files = {path.name for path in MODULES.values()}
    named = set(re.findall(r"[`/](\w+\.py)`", doc))
    gone = sorted(n for n in named - files if not n.startswith("test_"))  # tests are named too
    assert not gone, "the map names files that do not exist: " + ", ".join(gone)
