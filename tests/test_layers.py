"""The house (DESIGN.md, issue 8): every module of src/coderouge on a floor, imports only ever going to
the same floor or down, no import cycles, and one error tree.

The import graph is read from the source with `ast`: `import coderouge.x`, `from coderouge.x import y`
and relative imports, wherever they are written (imports inside functions and under TYPE_CHECKING
count). `from pkg import name` goes to the module `pkg.name` when there is one, else to `pkg` (its
`__init__`), so a cycle through a package's `__init__` is a cycle. The checks are also run on small
packages written here with a cycle and an upward import, to show that each one can fail.
"""

from __future__ import annotations

import ast
import builtins
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# The floors, lowest first (DESIGN.md: core → providers → calls/store → runner → evals/arena → report → cli).
# A module is on the floor of its longest listed prefix. A module on no floor fails the test: give it one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("coderouge", "coderouge.types", "coderouge.errors", "coderouge.secrets", "coderouge.stats",
              "coderouge.net")),
    ("providers", ("coderouge.providers",)),
    ("calls and store", ("coderouge.calls", "coderouge.store")),
    ("runner", ("coderouge.runner",)),
    # what runs on the call path: evaluations, battles and the voting page, the gateway, load tests
    ("evals and arena", ("coderouge.evals", "coderouge.arena", "coderouge.gateway", "coderouge.stress")),
    ("report", ("coderouge.report",)),
    ("cli", ("coderouge.cli", "coderouge.__main__")),
]
# `coderouge/__init__.py` re-exports the ground floor's public names (types, errors): it is core.

# Exception classes still defined outside errors.py, each in a file owned by someone else for now.
ERRORS_ELSEWHERE: set[tuple[str, str]] = set()


# --- reading the source --------------------------------------------------------------------------

def modules(root: Path, top: str = "coderouge") -> dict[str, Path]:
    """Dotted module name → file, for every .py under root/top (a package is its __init__)."""
    out = {}
    for path in sorted((root / top).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _existing(name: str, mods: dict[str, Path]) -> str | None:
    """The module `name` stands for: itself, or its longest prefix that is a module (a name in a package)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, mods: dict[str, Path], top: str = "coderouge") -> set[str]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from pkg import name` imports pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
        else:
            continue
        for t in targets:
            if t == top or t.startswith(top + "."):
                m = _existing(t, mods)
                if m is not None and m != name:
                    out.add(m)
    return out


def import_graph(root: Path = SRC, top: str = "coderouge") -> dict[str, set[str]]:
    mods = modules(root, top)
    return {name: imports_of(name, path, mods, top) for name, path in mods.items()}


# --- the checks ------------------------------------------------------------------------------------

def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: every strongly connected component of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def floor_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, floor)
    for floor, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[0]:
                    best = (len(p), floor)
    return None if best is None else best[1]


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> list[str]:
    out = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            fa, fb = floor_of(a, layers), floor_of(b, layers)
            if fa is not None and fb is not None and fb > fa:
                out.append(f"{a} ({layers[fa][0]}) imports {b} ({layers[fb][0]})")
    return out


def errors_outside_the_tree(root: Path = SRC, top: str = "coderouge") -> set[tuple[str, str]]:
    """(module, class) for every exception class defined outside errors.py: a class whose base is an
    exception (a builtin one, or a name ending in Error or Exception)."""
    builtin = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    out = set()
    for name, path in modules(root, top).items():
        if name == f"{top}.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                if any(b in builtin or b.endswith(("Error", "Exception")) for b in bases):
                    out.add((name, node.name))
    return out


# --- the house as it is --------------------------------------------------------------------------

GRAPH = import_graph()


def test_every_module_is_on_a_floor():
    assert [m for m in GRAPH if floor_of(m) is None] == []
    assert len(GRAPH) > 50  # the walk found the package


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_no_import_from_a_lower_floor_to_a_higher_one():
    assert upward_imports(GRAPH) == []


def test_the_call_path_draws_no_progress_bar_and_reads_no_report():
    """calls.py gets its progress bar from RunConfig.progress_factory (the CLI's report.progress.Progress)."""
    below_report = [m for m in GRAPH if floor_of(m) < floor_of("coderouge.report")]
    assert not [m for m in below_report if any(t.startswith("coderouge.report") for t in GRAPH[m])]
    assert "coderouge.calls" in below_report and "coderouge.evals.engine" in below_report


def test_every_error_class_is_in_the_one_tree():
    assert errors_outside_the_tree() - ERRORS_ELSEWHERE == set()


def test_task_modules_and_the_registry_do_not_import_each_other():
    tasks = GRAPH["coderouge.evals.tasks"]
    for m in ("gsm8k", "humaneval", "ifeval", "mc.common", "mc.arc", "mc.mmlu"):
        assert "coderouge.evals.tasks" not in GRAPH[f"coderouge.evals.{m}"]
    assert "coderouge.evals.task_types" in tasks and GRAPH["coderouge.evals.task_types"] <= {
        "coderouge.errors", "coderouge.types"}


# --- the checks can fail ---------------------------------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / "coderouge" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return tmp_path


HOUSE = {
    "__init__.py": "from .errors import CoderougeError\n",
    "errors.py": "class CoderougeError(Exception):\n    pass\n",
    "types.py": "",
    "calls.py": "from .types import *\n",
    "evals/__init__.py": "from .tasks import get_task\n",
    "evals/tasks.py": "def get_task():\n    from .gsm8k import load\n",
    "evals/gsm8k.py": "from .task_types import Task\n",
    "evals/task_types.py": "from ..errors import CoderougeError\n",
    "report/__init__.py": "",
    "report/progress.py": "",
    "cli/__init__.py": "from .. import calls\nfrom ..report import progress\n",
}


def test_the_checks_pass_on_a_sound_house(tmp_path):
    g = import_graph(_package(tmp_path, HOUSE))
    assert g["coderouge.cli"] == {"coderouge.calls", "coderouge.report.progress"}
    assert g["coderouge.evals.tasks"] == {"coderouge.evals.gsm8k"}
    assert cycles(g) == [] and upward_imports(g) == [] and errors_outside_the_tree(tmp_path) == set()


@pytest.mark.parametrize("rel,line,cycle", [
    # the old registry: a task module imports the registry that imports it (inside a function)
    ("evals/gsm8k.py", "from .tasks import get_task\n", ["coderouge.evals.gsm8k", "coderouge.evals.tasks"]),
    # through a package __init__: a module imports its package, whose __init__ imports the module
    ("evals/gsm8k.py", "from ..evals import get_task\n",
     ["coderouge.evals", "coderouge.evals.gsm8k", "coderouge.evals.tasks"]),
    # an absolute import, inside a function
    ("errors.py", "def f():\n    import coderouge.evals.task_types\n", ["coderouge.errors", "coderouge.evals.task_types"]),
])
def test_a_cycle_fails(tmp_path, rel, line, cycle):
    files = dict(HOUSE)
    files[rel] = files[rel] + line
    assert cycles(import_graph(_package(tmp_path, files))) == [cycle]


@pytest.mark.parametrize("rel,line,wrong", [
    ("calls.py", "from .report.progress import *\n",
     "coderouge.calls (calls and store) imports coderouge.report.progress (report)"),
    ("errors.py", "def f():\n    from coderouge.cli import main\n", "coderouge.errors (core) imports coderouge.cli (cli)"),
])
def test_an_upward_import_fails(tmp_path, rel, line, wrong):
    files = dict(HOUSE)
    files[rel] = files[rel] + line
    assert upward_imports(import_graph(_package(tmp_path, files))) == [wrong]


def test_a_downward_import_passes(tmp_path):
    files = dict(HOUSE)
    files["evals/task_types.py"] += "from ..calls import *\n"
    g = import_graph(_package(tmp_path, files))
    assert "coderouge.calls" in g["coderouge.evals.task_types"] and upward_imports(g) == []


def test_an_error_class_outside_the_tree_fails(tmp_path):
    files = dict(HOUSE)
    files["evals/tasks.py"] += "class TaskError(ValueError):\n    pass\n"
    files["calls.py"] += "from .errors import CoderougeError\nclass CallFailed(CoderougeError):\n    pass\n"
    assert errors_outside_the_tree(_package(tmp_path, files)) == {("coderouge.evals.tasks", "TaskError"),
                                                                  ("coderouge.calls", "CallFailed")}
