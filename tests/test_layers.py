"""The folder listing is the design: a module imports from its own stage, earlier stages and the shared
modules, never from a later stage (or the UI)."""

import ast
from pathlib import Path

RAG = Path(__file__).resolve().parents[1] / "rag"
SHARED = {"errors": 0, "types": 1, "text": 1, "files": 1, "settings": 2}
STAGES = ["ingest", "models", "indexing", "retrieval", "reader", "training", "answer", "evaluation"]
TOP = {"assistant", "cli", "doctor"}


def layer(module: str) -> float:
    """errors < types, text, files < settings < ingest < models < ... < evaluation < assistant, cli, doctor."""
    head = module.split(".")[1] if module.count(".") else ""
    if head in SHARED:
        return SHARED[head]
    if head in STAGES:
        return 10 + STAGES.index(head)
    assert head in TOP or head == "", module
    return 100


def imports(path: Path) -> set[str]:
    """Every rag.* module the file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("rag", "ui"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # names that are modules count
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in ("rag", "ui"))
    return found


def test_no_import_runs_backwards():
    wrong = []
    for path in sorted(RAG.rglob("*.py")):
        module = "rag." + ".".join(path.relative_to(RAG).with_suffix("").parts).removesuffix(".__init__")
        for target in imports(path):
            if module == "rag.cli" and target.startswith("ui.app"):
                continue  # `rag serve` starts the UI, importing it only then (test_app checks the rest)
            if target.startswith("ui") or (target != "rag" and layer(target) > layer(module)):
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong
    assert layer("rag.retrieval.hybrid") > layer("rag.indexing.store") > layer("rag.types")  # the test can tell


def module_graph(roots: list[Path]) -> dict[str, set[str]]:
    """module -> the modules of rag/ and ui/ it imports (a `from package import name` counts the package and,
    where `name` is a module, that module)."""
    base = RAG.parent
    paths = {".".join(p.relative_to(base).with_suffix("").parts).removesuffix(".__init__"): p
             for root in roots for p in sorted(root.rglob("*.py"))}
    return {module: {t for t in imports(path) if t in paths and t != module} for module, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle per strongly connected group of modules (Tarjan), each as a path that closes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group) + [sorted(group)[0]])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = module_graph([RAG, RAG.parent / "ui"])
    assert "rag.indexing.store" in graph and "ui.app" in graph
    assert not cycles(graph), cycles(graph)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]  # the test can tell
