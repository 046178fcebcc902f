"""The layering of docs/ARCHITECTURE.md holds: imports only go down (or stay in a layer), no cycles, and no
function-local imports of our own modules."""

import ast
import fnmatch
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "electra_tf")


def _layers():
    """{pattern: layer number} from the Layers table of docs/ARCHITECTURE.md."""
    text = open(os.path.join(ROOT, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    table = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for match in re.finditer(r"^\| (\d+) [^|]+\| (.+) \|$", table, re.M):
        for pattern in re.findall(r"`([^`]+)`", match.group(2)):
            layers[pattern] = int(match.group(1))
    assert layers, "no Layers table found in docs/ARCHITECTURE.md"
    return layers


def _modules():
    """{module name: file path} for every module of the package."""
    modules = {}
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    return modules


def _imports(path, modules):
    """[(imported module, line, is_function_local)] of our own modules imported by the file at `path`."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    local_nodes = {id(node) for function in ast.walk(tree)
                   if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for node in ast.walk(function)}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        for name in names:
            if name.split(".")[0] == "electra_tf":
                while name not in modules:
                    name = name.rsplit(".", 1)[0]
                found.append((name, node.lineno, id(node) in local_nodes))
    return found


def _layer_of(module, layers):
    matches = [layer for pattern, layer in layers.items() if fnmatch.fnmatchcase(module, pattern)]
    return max(matches) if matches else None


def test_every_module_has_a_layer():
    layers = _layers()
    missing = sorted(module for module in _modules() if _layer_of(module, layers) is None)
    assert not missing, f"add these modules to the Layers table of docs/ARCHITECTURE.md: {missing}"


def test_imports_only_go_down_and_are_module_level():
    layers, modules = _layers(), _modules()
    upward, local = [], []
    for module, path in modules.items():
        for imported, line, is_local in _imports(path, modules):
            if is_local:
                local.append(f"{module}:{line} imports {imported} inside a function")
            if imported != module and (_layer_of(imported, layers) or 0) > (_layer_of(module, layers) or 0):
                upward.append(f"{module}:{line} (layer {_layer_of(module, layers)}) imports {imported} "
                              f"(layer {_layer_of(imported, layers)})")
    assert not upward, "imports running up the layers:\n" + "\n".join(upward)
    assert not local, "function-local imports of our own modules:\n" + "\n".join(local)


def test_no_import_cycles():
    modules = _modules()
    graph = {module: {imported for imported, _, _ in _imports(path, modules)
                      if imported != module and not module.startswith(imported + ".")}
             for module, path in modules.items()}
    state, stack, cycles = {}, [], []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append(stack[stack.index(imported):] + [imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(cycle) for cycle in cycles)


def test_the_checker_sees_a_violation(tmp_path):
    """The parser finds a function-local import and resolves `from package import module` to the module."""
    source = tmp_path / "probe.py"
    source.write_text("from electra_tf import io_utils\n\ndef f():\n    from electra_tf.pretraining import loop\n")
    found = _imports(str(source), _modules())
    assert ("electra_tf.io_utils", 1, False) in found
    assert ("electra_tf.pretraining.loop", 4, True) in found
    assert _layer_of("electra_tf.pretraining.loop", _layers()) > _layer_of("electra_tf.io_utils", _layers())


def test_run_scripts_are_thin_wrappers_of_the_package_commands(run_commands):
    wrapped = {"run_pretraining.py": "electra_tf.pretraining", "run_finetuning.py": "electra_tf.finetuning"}
    helps = run_commands({module: ["-m", module, "--helpshort"] for module in wrapped.values()})
    for script, module in wrapped.items():
        text = open(os.path.join(ROOT, script), encoding="utf-8").read()
        assert f"from {module}.__main__ import run" in text and len(text.splitlines()) < 10, script
        result = helps[module]
        assert "--init_checkpoint" in result.stdout, (module, result.stderr[-2000:])  # absl exits 1 after help
