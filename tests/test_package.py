"""Package-level contracts: torch-free, cheap import, public API present."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pastegen

BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
    sys.meta_path.insert(0, Block())
    """
)


def test_pastegen_works_without_torch():
    code = BLOCK_TORCH + textwrap.dedent(
        """
        import pkgutil, importlib, pastegen
        for m in pkgutil.walk_packages(pastegen.__path__, "pastegen."):
            importlib.import_module(m.name)
        gen = pastegen.TupleGenerator(pastegen.sample_image_paths()[:2], pastegen.preset("sample", height=32, width=32), seed=0)
        t = gen[0]
        assert t.I.shape == (32, 32, 3)
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_import_is_lazy():
    code = "import sys, pastegen; print(sorted(m for m in ('h5py', 'cv2', 'skimage', 'numba', 'joblib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_api():
    for name in pastegen.__all__:
        assert getattr(pastegen, name) is not None, name
    assert pastegen.FORMAT_VERSION >= 1
    assert issubclass(pastegen.SpecError, pastegen.PastegenError)


# --- the module graph: every module imports on its own, no import cycles, no private names shared ---

PACKAGE_DIR = Path(pastegen.__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def _modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every pastegen module (packages as their ``__init__.py``)."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(REPO_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(body: list[ast.stmt], deferred: bool):
    """The statements of a module that can import: the top level and its if/try/with blocks
    (the imports run when the module is imported), and with ``deferred`` also function and class
    bodies (imports run on first use); never ``if TYPE_CHECKING:`` blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _statements(node.body, deferred)
            yield from _statements(node.orelse, deferred)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _statements(block, deferred)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            yield from _statements(node.body, deferred)
        elif deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _statements(node.body, deferred)


def _imports(name: str, path: Path, nodes) -> list[tuple[str, list[str]]]:
    """``(imported pastegen module, [imported names])`` of the import statements in ``nodes``."""
    modules = _modules()
    is_package = path.name == "__init__.py"
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "pastegen"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pastegen":
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            plain = [n for n in names if f"{target}.{n}" not in modules]
            out += [(m, []) for m in submodules]
            if plain or not submodules:
                out.append((target, plain))
    return out


def _import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """Edges ``a -> b``: module ``a`` imports module ``b`` (importing ``b`` also runs the packages
    above it that are not above ``a``). Module-level imports only (what runs when ``a`` is
    imported), or with ``deferred`` also the imports inside functions."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
        for target, _ in _imports(name, path, _statements(tree.body, deferred)):
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                dep = ".".join(parts[:k])
                if dep in modules and dep != name and dep not in ancestors:
                    graph[name].add(dep)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_module_import_graph_is_acyclic():
    graph = _import_graph()
    # the graph is the real one: the kernels take the spec and the parameters, not the pipeline
    assert {"pastegen.spec", "pastegen.params", "pastegen.components.mask"} <= graph["pastegen.kernels"]
    assert "pastegen.pipeline" not in graph["pastegen.kernels"]
    assert "pastegen.store.schema" in graph["pastegen.store.writer"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_deferred_imports_hide_no_cycle():
    """An import inside a function (to keep ``import`` cheap) must not close a circle either:
    the pipeline imports the kernels on its first render, so the kernels never import the pipeline."""
    graph = _import_graph(deferred=True)
    assert "pastegen.kernels" in graph["pastegen.pipeline"] and "pastegen.kernels" not in _import_graph()["pastegen.pipeline"]
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle through deferred imports: " + " -> ".join(cycle)


def test_find_cycle_sees_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(_modules())
    procs: dict[str, subprocess.Popen] = {}
    failures = {}
    pending = list(names)
    while pending or procs:
        while pending and len(procs) < 4:
            name = pending.pop()
            procs[name] = subprocess.Popen(
                [sys.executable, "-c", f"import {name}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        name = next(iter(procs))
        out, err = procs.pop(name).communicate(timeout=120)
        if err.strip() or out.strip():
            failures[name] = (err or out).strip().splitlines()[-1]
    assert len(names) > 30
    assert not failures, failures


def test_no_private_names_are_shared_between_modules():
    """A name another module needs is public in a module named for what it holds. Private
    (``_name``) objects are imported only from a private module of the same package (the
    kernels from ``kernels._render``)."""
    modules = _modules()
    shared = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, imported in _imports(name, path, ast.walk(tree)):
            private_module = target.rsplit(".", 1)[-1].startswith("_")
            same_package = target.rsplit(".", 1)[0] == (name if path.name == "__init__.py" else name.rsplit(".", 1)[0])
            for n in imported:
                if n.startswith("_") and not n.startswith("__") and not (private_module and same_package):
                    shared.append(f"{name} imports {target}.{n}")
    assert not shared, shared


def test_pastenet_uses_no_private_pastegen_module():
    pastenet_dir = REPO_DIR / "pastenet"
    if not pastenet_dir.is_dir():  # pragma: no cover - pastegen installed alone
        return
    bad = []
    for path in sorted(pastenet_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("pastegen"):
                targets = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("pastegen")]
            for t in targets:
                if any(part.startswith("_") and not part.startswith("__") for part in t.split(".")):
                    bad.append(f"{path.relative_to(REPO_DIR)}: {t}")
    assert not bad, bad
