#!/usr/bin/env python3
"""How the code is put together, in figures a reviewer can compare before and after.

    python scripts/structure_report.py           # print the figures beside their targets
    python scripts/structure_report.py --check   # exit 1 when a rule that must hold is broken

It reads the source as text (``ast``), imports nothing of the project and needs no
database. What it counts, outside migrations, tests and bench/:

- modules over 500 lines;
- function-level imports of the project's own modules (besides ``AppConfig.ready``),
  and how many of them carry no comment saying why;
- import cycles between files (every import counted, function-level ones too: a
  deferred import hides a cycle, it does not remove it);
- imports from an app into config/ (file pairs): config wires the apps, no app
  imports it;
- value-returning signals: a ``send()`` whose answers are read;
- cross-app ORM use: a module of one app that queries another app's model
  (``Lead.objects``), or a lookup that walks into it (``lead__phone_hash``,
  ``select_related("lead")``);
- pairs of repeated code outside migrations, from the ``duplicates`` command when the
  machine has it.

``--check`` fails on an import cycle, an app importing config/, a value-returning
signal, cross-app ORM use, or a function-level import without a comment saying why.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRING = "config"
APPS = ("clinic", "intake", "scheduling", "notifications")
PACKAGES = (WIRING, *APPS)
BIG_MODULE_LINES = 500
# Relation fields of one app's models that lead into another app's models, by name as
# a lookup would start with it. Read from the models' source (ForeignKey("app.Model")).
_RELATION = re.compile(
    r"^\s*(\w+)\s*=\s*models\.(?:ForeignKey|OneToOneField|ManyToManyField)\(\s*"
    r"[\"'](\w+)\.(\w+)[\"']"
)
_QUERY_METHODS = frozenset(
    {
        "filter",
        "exclude",
        "get",
        "update",
        "order_by",
        "values",
        "values_list",
        "select_related",
        "prefetch_related",
        "annotate",
        "aggregate",
        "get_or_create",
        "update_or_create",
        "only",
        "defer",
        "distinct",
    }
)


@dataclass
class Module:
    path: Path
    name: str  # dotted
    package: str  # the top-level package: config, intake, ...
    tree: ast.Module
    lines: list[str]
    imports: list[tuple[str, int, bool]] = field(default_factory=list)  # target, line, deferred


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _skipped(path: Path) -> bool:
    return "migrations" in path.parts


def load_modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        base = ROOT / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if _skipped(path):
                continue
            text = path.read_text(encoding="utf-8")
            name = _dotted(path)
            modules[name] = Module(
                path=path,
                name=name,
                package=package,
                tree=ast.parse(text, filename=str(path)),
                lines=text.splitlines(),
            )
    return modules


def _resolve(target: str, modules: dict[str, Module]) -> str | None:
    """The project module an import names: the longest dotted prefix that is a file."""
    parts = target.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _in_app_ready(stack: list[ast.AST]) -> bool:
    """Inside ``def ready`` of an ``AppConfig`` subclass (where Django wants such imports)."""
    for outer, inner in itertools.pairwise(stack):
        if (
            isinstance(outer, ast.ClassDef)
            and isinstance(inner, ast.FunctionDef)
            and inner.name == "ready"
            and any(
                (isinstance(base, ast.Name) and base.id == "AppConfig")
                or (isinstance(base, ast.Attribute) and base.attr == "AppConfig")
                for base in outer.bases
            )
        ):
            return True
    return False


@dataclass
class DeferredImport:
    module: str
    line: int
    target: str
    commented: bool


def collect_imports(modules: dict[str, Module]) -> list[DeferredImport]:
    """Fill each module's imports; return the function-level ones (not in ready())."""
    deferred: list[DeferredImport] = []

    def visit(module: Module, node: ast.AST, stack: list[ast.AST]) -> None:
        in_function = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in stack)
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = module.name.split(".")
            if module.path.name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, node.module] if node.module else base)
            targets = [f"{prefix}.{alias.name}" for alias in node.names]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is None or resolved == module.name:
                continue
            module.imports.append((resolved, node.lineno, in_function))
            if (
                in_function
                and not _in_app_ready(stack)
                and (module.name, node.lineno) not in {(d.module, d.line) for d in deferred}
            ):
                line = node.lineno - 1
                here = module.lines[line]
                above = module.lines[line - 1].strip() if line else ""
                commented = "#" in here or above.startswith("#")
                deferred.append(DeferredImport(module.name, node.lineno, resolved, commented))
        for child in ast.iter_child_nodes(node):
            visit(module, child, [*stack, node])

    for module in modules.values():
        visit(module, module.tree, [])
    return deferred


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of more than one file (Tarjan), each a cycle to break.

    A package's ``__init__`` that only re-exports its submodules is looked through: an
    import of ``intake.services`` counts as an import of the submodules it re-exports
    that the importer could mean, which would otherwise make every package a cycle."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module in modules.values():
        for target, _line, _deferred in module.imports:
            if module.name.startswith(target + "."):
                continue  # a submodule importing its own package's __init__
            graph[module.name].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0

    def strongconnect(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                strongconnect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for node in sorted(modules):
        if node not in index:
            strongconnect(node)
    return sorted(groups)


def app_config_imports(modules: dict[str, Module]) -> list[tuple[str, str]]:
    pairs = set()
    for module in modules.values():
        if module.package == WIRING:
            continue
        for target, _line, _deferred in module.imports:
            if target.split(".")[0] == WIRING:
                pairs.add((module.name, target))
    return sorted(pairs)


def signal_names(modules: dict[str, Module]) -> set[str]:
    names = set()
    for module in modules.values():
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, (ast.Name, ast.Attribute))
                and (getattr(node.value.func, "id", None) or node.value.func.attr) == "Signal"
            ):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def value_returning_signals(modules: dict[str, Module]) -> list[str]:
    """Places where a project signal's ``send()`` answers are read."""
    signals = signal_names(modules)
    found = []
    for module in modules.values():
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(module.tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(module.tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("send", "send_robust")
            ):
                continue
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if name not in signals:
                continue
            parent = parents.get(node)
            if isinstance(parent, (ast.Expr, ast.Lambda)):
                continue  # fired and forgotten (a lambda handed to on_commit)
            found.append(f"{module.name}:{node.lineno} {name}")
    return found


def _app_models(modules: dict[str, Module]) -> dict[str, set[str]]:
    """Model class names defined in each app's models module(s)."""
    found: dict[str, set[str]] = defaultdict(set)
    for module in modules.values():
        if module.package == WIRING or ".models" not in f".{module.name}.":
            continue
        if not (module.name.endswith(".models") or ".models." in module.name):
            continue
        for node in module.tree.body:
            if isinstance(node, ast.ClassDef):
                found[module.package].add(node.name)
    return found


def _foreign_relations(modules: dict[str, Module]) -> dict[str, set[str]]:
    """For each app, the names of its models' relation fields into another app."""
    relations: dict[str, set[str]] = defaultdict(set)
    for module in modules.values():
        if not (module.name.endswith(".models") or ".models." in module.name):
            continue
        for line in module.lines:
            match = _RELATION.match(line)
            if match and match.group(2) != module.package:
                relations[module.package].add(match.group(1))
    return relations


def cross_app_orm(modules: dict[str, Module]) -> tuple[list[str], list[str]]:
    """Queries of another app's model (``Lead.objects``, ``lead__phone_hash``), and joins
    into one (``select_related("lead")``), each as "module:line what"."""
    models = _app_models(modules)
    relations = _foreign_relations(modules)
    found: list[str] = []
    joins: list[str] = []
    for module in modules.values():
        if module.package == WIRING or module.name.endswith("admin"):
            continue
        imported: dict[str, str] = {}  # local name -> app of the model
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                app = node.module.split(".")[0]
                if app in APPS and app != module.package and ".models" in f".{node.module}":
                    for alias in node.names:
                        if alias.name in models.get(app, set()):
                            imported[alias.asname or alias.name] = app
        own_relations = relations.get(module.package, set())
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "objects"
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
            ):
                found.append(f"{module.name}:{node.lineno} {node.value.id}.objects")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _QUERY_METHODS
            ):
                lookups = [kw.arg for kw in node.keywords if kw.arg]
                lookups += [
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                ]
                for lookup in lookups:
                    head = lookup.lstrip("-").split("__")[0]
                    if head not in own_relations:
                        continue
                    where = f"{module.name}:{node.lineno} {node.func.attr}({lookup!r})"
                    if node.func.attr in ("select_related", "prefetch_related"):
                        joins.append(where)
                    elif "__" in lookup:
                        found.append(where)
    return found, joins


def big_modules(modules: dict[str, Module]) -> list[tuple[str, int]]:
    return sorted(
        ((str(m.path.relative_to(ROOT)), len(m.lines)) for m in modules.values()),
        key=lambda item: -item[1],
    )


def duplicate_pairs() -> int | None:
    """Pairs of repeated code with neither side in a migration, or None without the tool."""
    tool = shutil.which("duplicates")
    if tool is None:
        return None
    result = subprocess.run(  # noqa: S603 (a fixed local tool, no shell)
        [tool, "--repo", str(ROOT), "--most", "200", "--seconds", "120"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = [line for line in result.stdout.splitlines() if re.match(r"^D\d+ ", line)]
    return sum(1 for row in rows if "migrations/" not in row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a rule is broken")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every finding")
    parser.add_argument("--no-duplicates", action="store_true", help="skip the duplicates run")
    args = parser.parse_args()

    modules = load_modules()
    deferred = collect_imports(modules)
    cycles = import_cycles(modules)
    config_pairs = app_config_imports(modules)
    signals = value_returning_signals(modules)
    orm, joins = cross_app_orm(modules)
    big = [(path, lines) for path, lines in big_modules(modules) if lines > BIG_MODULE_LINES]
    duplicates = None if args.no_duplicates else duplicate_pairs()
    uncommented = [d for d in deferred if not d.commented]

    rows = [
        ("modules over 500 lines", len(big), "1 (settings)"),
        ("function-level imports of project modules", len(deferred), "<= 3, each commented"),
        ("  of which without a comment saying why", len(uncommented), "0"),
        ("import cycles between files", len(cycles), "0"),
        ("imports from an app into config (file pairs)", len(config_pairs), "0"),
        ("value-returning signals", len(signals), "0"),
        ("cross-app ORM use", len(orm), "0"),
        ("  joins into another app's model (select_related)", len(joins), "reported"),
        (
            "duplicates pairs outside migrations",
            "n/a (no duplicates command)" if duplicates is None else duplicates,
            "<= 25",
        ),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'figure':<{width}}  {'measured':>10}  target")
    for name, measured, target in rows:
        print(f"{name:<{width}}  {measured!s:>10}  {target}")
    if args.verbose:
        print("\nmodules over 500 lines:", *(f"  {p} {n}" for p, n in big), sep="\n")
        print(
            "\nfunction-level imports:",
            *(
                f"  {d.module}:{d.line} -> {d.target}{'' if d.commented else '  (no comment)'}"
                for d in deferred
            ),
            sep="\n",
        )
        print("\nimport cycles:", *(f"  {' <-> '.join(c)}" for c in cycles), sep="\n")
        print("\napp -> config imports:", *(f"  {a} -> {b}" for a, b in config_pairs), sep="\n")
        print("\nvalue-returning signals:", *(f"  {s}" for s in signals), sep="\n")
        print("\ncross-app ORM use:", *(f"  {o}" for o in orm), sep="\n")
        print("\njoins into another app's model:", *(f"  {j}" for j in joins), sep="\n")

    if not args.check:
        return 0
    broken = []
    if cycles:
        broken.append(
            f"{len(cycles)} import cycle(s): " + "; ".join(" <-> ".join(c) for c in cycles)
        )
    if config_pairs:
        broken.append(
            f"{len(config_pairs)} app -> config import(s): "
            + ", ".join(f"{a} -> {b}" for a, b in config_pairs)
        )
    if signals:
        broken.append("value-returning signal(s): " + ", ".join(signals))
    if orm:
        broken.append("cross-app ORM use: " + ", ".join(orm))
    if uncommented:
        broken.append(
            "function-level import(s) without a comment saying why: "
            + ", ".join(f"{d.module}:{d.line}" for d in uncommented)
        )
    for problem in broken:
        print(f"structure: {problem}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
