"""The tests themselves: every test asserts something, and the cluster suites wait for
what they wait for (tests/kubeutil.py: wait_for, stays, settles), never a fixed sleep."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CLUSTER_SUITES = (TESTS / "e2e", TESTS / "integration")
# A sleep that is what a test is about (a foreign writer's pace), said on its line.
NOT_A_WAIT = "# not a wait:"
ASSERTING_CALLS = frozenset({"raises", "fail", "warns"})
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _asserts_itself(fn: Function) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert | ast.Raise):
            return True
        if isinstance(node, ast.Call):
            name = _called(node)
            if name in ASSERTING_CALLS or name.startswith("assert"):
                return True
    return False


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        if "score-corpus" in path.parts or "fixtures" in path.parts:
            continue
        dotted = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
        found[dotted] = ast.parse(path.read_text(), str(path))
    return found


def _asserting_helpers(modules: dict[str, ast.Module]) -> tuple[set[str], set[str]]:
    """(``module.function`` names, method names) of helpers under tests/ that assert,
    directly or through another such helper."""
    functions: dict[str, Function] = {}
    methods: dict[str, list[Function]] = {}
    imports: dict[str, dict[str, str]] = {}
    for module, tree in modules.items():
        imports[module] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                for alias in node.names:
                    imports[module][alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[f"{module}.{node.name}"] = node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        methods.setdefault(item.name, []).append(item)
    asserting = {name for name, fn in functions.items() if _asserts_itself(fn)}
    asserting_methods = {n for n, fns in methods.items() if any(map(_asserts_itself, fns))}
    module_of = {fn: name.rsplit(".", 1)[0] for name, fn in functions.items()}
    changed = True
    while changed:
        changed = False
        for name, fn in functions.items():
            if name not in asserting and _calls_asserting(
                fn, module_of[fn], imports, asserting, asserting_methods
            ):
                asserting.add(name)
                changed = True
    return asserting, asserting_methods


def _calls_asserting(
    fn: Function,
    module: str,
    imports: dict[str, dict[str, str]],
    asserting: set[str],
    asserting_methods: set[str],
) -> bool:
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in asserting_methods:
            return True
        if isinstance(node.func, ast.Name):
            name = node.func.id
            target = imports[module].get(name, f"{module}.{name}")
            if target in asserting:
                return True
    return False


def unasserting_tests() -> list[str]:
    modules = _modules()
    asserting, asserting_methods = _asserting_helpers(modules)
    imports = {
        module: {
            alias.asname or alias.name: f"{node.module}.{alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests")
            for alias in node.names
        }
        for module, tree in modules.items()
    }
    found = []
    for module, tree in modules.items():
        candidates: list[ast.stmt] = []
        for node in tree.body:
            candidates += node.body if isinstance(node, ast.ClassDef) else [node]
        for fn in candidates:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if not fn.name.startswith("test"):
                continue
            if _asserts_itself(fn) or _calls_asserting(
                fn, module, imports, asserting, asserting_methods
            ):
                continue
            found.append(f"{module}:{fn.lineno} {fn.name}")
    return found


def test_every_test_asserts_something() -> None:
    assert unasserting_tests() == []


def test_the_assertion_scan_finds_a_test_that_only_runs_code(tmp_path: Path) -> None:
    source = (
        "def helper():\n    assert True\n\n"
        "def test_runs():\n    sum([1])\n\n"
        "def test_through_a_helper():\n    helper()\n\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        int('x')\n"
    )
    tree = ast.parse(source)
    fns = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    asserting = {"m.helper"}
    imports: dict[str, dict[str, str]] = {"m": {}}
    verdicts = {
        name: _asserts_itself(fn) or _calls_asserting(fn, "m", imports, asserting, set())
        for name, fn in fns.items()
        if name.startswith("test")
    }
    assert verdicts == {"test_runs": False, "test_through_a_helper": True, "test_raises": True}


def fixed_sleeps() -> list[str]:
    found = []
    paths = [p for suite in CLUSTER_SUITES for p in sorted(suite.rglob("*.py"))]
    paths += sorted(TESTS.glob("*.py"))  # the harness and helpers the suites share
    for path in paths:
        if path.name == "kubeutil.py":  # the polling helpers themselves
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines), str(path))):
            if (
                isinstance(node, ast.Call)
                and _called(node) == "sleep"
                and NOT_A_WAIT not in lines[node.lineno - 1]
            ):
                found.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    return found


def test_the_cluster_suites_wait_for_conditions_not_for_time() -> None:
    assert fixed_sleeps() == [], (
        "wait with tests/kubeutil.py (wait_for, stays, settles); a sleep that is the "
        f"subject of a test says so on its line: {NOT_A_WAIT} why"
    )
