"""The package graph, read from the code's own imports (every ``import`` statement, lazy and
``TYPE_CHECKING`` ones included): no cycle between the top-level units of ``ombud``, the ledger
knows no domain, the leaves hold no state, and no domain package reaches up into the shells
that assemble and serve it."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import ombud

SOURCE = Path(ombud.__file__).parent

SHELLS = {"api", "cli", "deployment", "migrations", "web", "__main__"}
"""Units that assemble and serve the domain: nothing below them imports them."""
DOMAIN = {
    "access",
    "citysim",
    "dataintegrity",
    "governance",
    "ingest",
    "insight",
    "integrity",
    "ledger",
    "monitor",
    "privacy",
    "sensors",
    "simulator",
    "tokens",
    "voice",
    "witness",
}
STATELESS_LEAVES = {"base64url", "canonical", "districts", "errors", "events"}
STATEFUL = {"database", "storage", "config", "keyfile", "process"} | DOMAIN | SHELLS


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "ombud" and len(parts) > 1 else None


def _graph() -> dict[str, dict[str, set[str]]]:
    """unit → imported unit → the modules of the unit that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(SOURCE.rglob("*.py")):
        module = ".".join(("ombud", *path.relative_to(SOURCE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        source = _unit(module) or "__init__"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "ombud":  # from ombud import migrations
                    targets = [f"ombud.{alias.name}" for alias in node.names]
                else:
                    targets = [node.module]
            for target in targets:
                unit = _unit(target)
                if unit is not None and unit != source:
                    graph[source][unit].add(module)
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def _offending(
    graph: dict[str, dict[str, set[str]]], units: set[str], banned: set[str]
) -> dict[str, list[str]]:
    return {
        f"{a} -> {b}": sorted(graph[a][b])
        for a in sorted(units)
        for b in sorted(graph.get(a, {}))
        if b in banned
    }


def test_the_graph_is_read_from_the_code() -> None:
    graph = _graph()
    assert "ledger" in graph["deployment"] and "migrations" in graph["deployment"]
    assert "merkle" not in graph  # units are top-level packages and modules, not submodules


def test_a_cycle_would_be_found() -> None:
    looped = {"a": {"b": {"ombud.a.x"}}, "b": {"c": {"ombud.b.y"}}, "c": {"a": {"ombud.c.z"}}}
    assert _cycles(looped) == [["a", "b", "c"]]  # type: ignore[arg-type]


def test_no_cycle_between_top_level_units() -> None:
    assert _cycles(_graph()) == []


def test_the_ledger_knows_no_domain_and_no_config() -> None:
    graph = _graph()
    assert _offending(graph, {"ledger"}, (DOMAIN - {"ledger"}) | SHELLS | {"config"}) == {}


def test_the_encodings_errors_and_events_import_nothing_that_holds_state() -> None:
    assert _offending(_graph(), STATELESS_LEAVES, STATEFUL) == {}


def test_no_domain_package_imports_the_shells() -> None:
    assert _offending(_graph(), DOMAIN, SHELLS) == {}


def test_every_unit_is_classified() -> None:
    """A new package must be placed in the picture above (and in the README's diagram)."""
    units = {_unit(".".join(("ombud", p.stem))) for p in SOURCE.glob("*.py")} | {
        p.name for p in SOURCE.iterdir() if (p / "__init__.py").exists()
    }
    units.discard("__init__")
    pure = {"base64url", "canonical", "clock", "districts", "errors", "events", "exposition"}
    pure |= {"listen", "release", "tables"}
    infrastructure = {"config", "database", "keyfile", "process", "storage"}
    assert units - SHELLS - DOMAIN - pure - infrastructure == set()


_SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)\b")


def test_each_package_touches_only_its_own_tables() -> None:
    """A package reads and writes another package's tables only through that package's store
    methods: no SQL in one package names a table another declares (the migration history,
    which creates them all, excepted)."""
    from ombud.migrations import target_metadata

    owner = {
        table: meta_owner
        for metadata, meta_owner in zip(
            target_metadata(),
            ["tokens", "ingest", "sensors", "voice", "privacy", "governance", "access"],
            strict=True,
        )
        for table in metadata.tables
    }
    assert owner["devices"] == "ingest" and owner["posts"] == "voice"  # the order above holds
    trespass = []
    for path in sorted(SOURCE.rglob("*.py")):
        unit = path.relative_to(SOURCE).parts[0].removesuffix(".py")
        if unit == "migrations":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in _SQL_TABLE.findall(node.value):
                    if table in owner and owner[table] != unit:
                        trespass.append(f"{path.relative_to(SOURCE)}: {table} ({owner[table]})")
    assert trespass == []


def test_insight_never_reads_posts() -> None:
    """Insight is computed from the DP releases and public sensor readings only: it imports no
    voice module (the posts, their flags and reports live there), no privacy module but the
    releases, and names no table of posts in its SQL."""
    graph = _graph()
    imported = {module for unit, modules in graph["insight"].items() for module in modules if unit}
    assert "voice" not in graph["insight"], graph["insight"].get("voice")
    privacy = {
        target
        for path in (SOURCE / "insight").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ombud.")
        for target in [node.module]
        if target.startswith("ombud.privacy")
    }
    assert privacy <= {"ombud.privacy.dp"}, privacy
    text = " ".join(p.read_text(encoding="utf-8") for p in (SOURCE / "insight").rglob("*.py"))
    for table in ("posts", "post_flags", "spent_tokens"):
        assert f"FROM {table}" not in text and f"JOIN {table}" not in text
    assert imported  # the graph was read
