"""The house rules a newcomer relies on: where things live and which way imports point."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "bot", "handlers", "storage", "messages", "emulator", "benchmarks")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path) -> set[str]:
    """Every module of ours a file imports, anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            module = _resolve(target)
            if module is not None:
                found.add(module)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def storage_imports(source: str) -> tuple[set[str], set[str]]:
    """The `storage` modules a source imports when it runs, and those only for type checking."""
    running: set[str] = set()
    typing_only: set[str] = set()

    def visit(node: ast.AST, typing: bool) -> None:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [f"{node.module}.{a.name}" for a in node.names]
        for target in targets:
            if target.split(".")[0] == "storage":
                module = _resolve(target) or target
                (typing_only if typing else running).add(module)
        if _is_type_checking(node):
            assert isinstance(node, ast.If)
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, typing)

    visit(ast.parse(source), False)
    return running, typing_only


def _graph() -> dict[str, set[str]]:
    return {name: imports_of(path) - {name} for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    """No module reaches itself through imports, counting imports inside functions."""
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a made-up circle is found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_bot_imports_neither_handlers_nor_the_emulator() -> None:
    """Services know nothing of Telegram adapters, the emulator, or the composition root."""
    offenders = {
        name: sorted(m for m in deps if m.split(".")[0] in ("handlers", "emulator", "app"))
        for name, deps in _graph().items()
        if name.split(".")[0] == "bot"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_lower_layers_import_nothing_above_them() -> None:
    """storage/, messages/ and emulator/ import nothing of the bot's."""
    allowed = {"storage": {"storage"}, "messages": {"messages"}, "emulator": {"emulator"}}
    offenders = {
        name: sorted(m for m in deps if m.split(".")[0] not in allowed[name.split(".")[0]])
        for name, deps in _graph().items()
        if name.split(".")[0] in allowed
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_bot_is_a_package_per_concept() -> None:
    """Nothing sits directly in bot/ but its __init__: every module belongs to a concept."""
    loose = sorted(p.name for p in (ROOT / "bot").glob("*.py") if p.name != "__init__.py")
    assert loose == []


def test_handlers_reach_storage_only_through_services() -> None:
    """Handlers call `bot/<concept>/` services and never `storage` (models only as types)."""
    offenders: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if name.split(".")[0] != "handlers":
            continue
        running, typing_only = storage_imports(path.read_text(encoding="utf-8"))
        wrong = running | {m for m in typing_only if not m.startswith("storage.models")}
        if wrong:
            offenders[name] = sorted(wrong)
    assert offenders == {}


def test_the_storage_import_finder_tells_types_from_calls() -> None:
    """The check above can fail: run-time imports count, models under TYPE_CHECKING do not."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from storage import access as access_q\n"
        "import storage.incidents\n"
        "if TYPE_CHECKING:\n"
        "    from storage.models import User\n"
        "def f():\n"
        "    from storage import patrols\n"
    )
    running, typing_only = storage_imports(source)
    assert running == {"storage.access", "storage.incidents", "storage.patrols"}
    assert typing_only == {"storage.models"}


def _sources(*packages: str) -> dict[str, str]:
    return {
        name: path.read_text(encoding="utf-8")
        for name, path in MODULES.items()
        if name.split(".")[0] in packages
    }


def test_callback_data_is_split_only_by_the_codec() -> None:
    """No handler or service takes button data apart by hand: typed buttons do it in one place."""
    offenders = [
        name
        for name, text in _sources("bot", "handlers", "app").items()
        if name != "bot.platform.buttons"
        and re.search(r"(\.data|callback_data)\S*\.split\(|\.split\(\":\"\)", text)
        and name != "bot.platform.config"  # "09:30" is a time, not button data
    ]
    assert offenders == []


def test_step_machine_helpers_live_in_one_place() -> None:
    """One flow engine: no second copy of the step-machine helpers anywhere."""
    helpers = ("_save", "_current", "_nav", "_StaleButton", "_go", "_recap")
    found: dict[str, list[str]] = {}
    for name, text in _sources("bot", "handlers", "app").items():
        for node in ast.walk(ast.parse(text)):
            kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            if isinstance(node, kinds) and node.name in helpers:
                found.setdefault(node.name, []).append(name)
    assert {helper: where for helper, where in found.items() if len(where) > 1} == {}
    assert set(found.get("_save", [])) <= {"bot.platform.flows"}
