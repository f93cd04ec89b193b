"""The package's floors (docs/architecture.md, "Floors"): each module imports only its own floor or below.

The test reads the floor table from the architecture doc, walks every module of the installed
package with ``ast`` (imports inside functions count; ``if TYPE_CHECKING:`` blocks do not) and
checks that no module imports one on a higher floor, that nothing in the package imports the
test helpers in ``taskforge.testing``, and that there are no import loops between modules.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import taskforge

PACKAGE = Path(taskforge.__file__).resolve().parent
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
CLI_FILES = {"_cli", "__main__", "_pipeline_commands", "_cli_options"}


def floors_from_doc() -> dict[str, int]:
    """``{unit: floor}`` from the table under "## Floors" (rows: | floor | `unit`, `unit` | ...)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Floors", 1)[1].split("\n## ", 1)[0]
    floors: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
        if m:
            for unit in re.findall(r"`([\w.]+)`", m.group(2)):
                floors[unit] = int(m.group(1))
    return floors


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def unit_of(module: str) -> str:
    """The floor unit of a module: ``cli`` for commands, ``api`` for the package's face, else its package."""
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    if parts[-1] == "_commands" or (len(parts) == 2 and parts[1] in CLI_FILES):
        return "cli"
    return parts[1]


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(imported taskforge module, line) for every import in the file, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

    def walk(node: ast.AST) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                yield from (x for n in child.orelse for x in walk_one(n))
                continue
            yield from walk_one(child)

    def walk_one(node: ast.AST) -> Iterator[tuple[str, int]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "taskforge":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] == "taskforge":
                for alias in node.names:  # `from taskforge._x import _y` may name a submodule
                    sub = f"{target}.{alias.name}"
                    yield (sub if _exists(sub) else target), node.lineno
        yield from walk(node)

    yield from walk(tree)


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_unit_has_a_floor() -> None:
    floors = floors_from_doc()
    units = {unit_of(m) for m in all_modules()}
    assert units - {"testing"} <= set(floors), f"no floor in docs/architecture.md for {units - set(floors)}"


def test_no_module_imports_a_higher_floor() -> None:
    floors = floors_from_doc()
    problems = []
    for module, path in all_modules().items():
        unit = unit_of(module)
        if unit == "testing":
            continue  # test helpers may import anything
        for target, line in imports(path, module):
            other = unit_of(target)
            if other == "testing":
                problems.append(f"{module}:{line} imports the test helpers {target}")
            elif floors[other] > floors[unit]:
                problems.append(
                    f"{module}:{line} (floor {floors[unit]}, {unit}) imports {target} (floor {floors[other]}, {other})"
                )
    assert not problems, "\n".join(problems)


def test_no_import_loops() -> None:
    modules = all_modules()
    graph = {m: {t for t, _ in imports(p, m) if t in modules and t != m} for m, p in modules.items()}
    # a package's __init__ importing its own modules is how packages work, not a loop
    for m in graph:
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join([*stack[stack.index(t) :], t]))
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import loops:\n" + "\n".join(cycles)


def test_stage_packages_hold_no_test_scaffolding() -> None:
    """Fakes live in taskforge.testing; no module outside it reaches for the repo's demo files."""
    offenders = []
    for module, path in all_modules().items():
        if unit_of(module) == "testing":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"parents\[\d\]\s*/\s*[\"']demo[\"']", text) or re.search(
            r"class (Fake|Stub|Mem)\w*", text
        ):
            offenders.append(module)
    assert not offenders, offenders
