"""The modules of python/fastrnn import each other without cycles (module-level and
function-level imports alike), so each can be read and tested on its own."""
import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[1] / "python" / "fastrnn"


def _module_name(path):
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path, name):
    """fastrnn modules imported anywhere in `path` (relative imports resolved)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fastrnn"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[:len(base) - node.level + 1]
                mod = ".".join(parent + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("fastrnn"):
                continue
            out.add(mod)
            for a in node.names:   # `from . import x` may name a submodule
                out.add(f"{mod}.{a.name}")
    return out


def _graph():
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        deps = {d for d in _imports(path, name) if d in modules and d != name}
        # importing a package's submodule runs the package first, but the package importing
        # its own submodules is not a dependency of theirs on each other
        edges[name] = {d for d in deps if not name.startswith(d + ".")}
    return edges


def _find_cycle(edges):
    state = {}

    def visit(n, stack):
        state[n] = 1
        for d in sorted(edges.get(n, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d] if d in stack else [n, d]
            if d not in state:
                found = visit(d, stack + [d])
                if found:
                    return found
        state[n] = 2
        return None
    for n in sorted(edges):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _find_cycle({k: v for k, v in _graph().items() if k != "fastrnn"})
    assert cycle is None, " -> ".join(cycle)


def test_the_checker_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
