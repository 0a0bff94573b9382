"""A plain ``pip install prefopt`` (no extras) is enough for the command line and for every module-level import.

The runtime dependencies are read from pyproject.toml. What a plain install holds is the closure of those
requirements over the installed distributions' own requirements (markers and extras evaluated); the CLI runs in a
subprocess whose import system refuses every other installed distribution, as a fresh virtual environment would.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["dependencies"]]
EXTRAS = [Requirement(line) for lines in PROJECT["optional-dependencies"].values() for line in lines]
OWNERS = importlib.metadata.packages_distributions()  # top-level module -> distributions providing it


def normalise(name: str) -> str:
    """PEP 503 name: ``PyYAML`` and ``pyyaml``, ``typing_extensions`` and ``typing-extensions`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether ``requirement`` is installed here when its owner was asked for with ``extras``."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras})


def plain_install() -> set[str]:
    """Normalised names of the installed distributions that a plain install of prefopt brings along."""
    extras_done: dict[str, set[str]] = {}
    pending = [(requirement, set()) for requirement in RUNTIME]
    while pending:
        requirement, owner_extras = pending.pop()
        name = normalise(requirement.name)
        if not applies(requirement, owner_extras):
            continue
        wanted = set(requirement.extras)
        if name in extras_done and wanted <= extras_done[name]:
            continue
        extras_done[name] = extras_done.get(name, set()) | wanted
        try:
            lines = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here, so nothing can import it in the subprocess either
        pending += [(Requirement(line), set(extras_done[name])) for line in lines]
    return {"prefopt", *extras_done}


# Runs in the subprocess: argv[1] is the JSON list of allowed distributions, argv[2] the JSON list of commands.
PLAIN_INSTALL_CLI = """
import contextlib, importlib.abc, importlib.metadata, importlib.util, io, json, re, sys, traceback

allowed = set(json.loads(sys.argv[1]))
owners = importlib.metadata.packages_distributions()


class NotInPlainInstall(ModuleNotFoundError):
    pass


class PlainInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        providers = {re.sub(r"[-_.]+", "-", d).lower() for d in owners.get(top, ())}
        if providers and not providers & allowed:
            raise NotInPlainInstall(f"No module named {top!r} in a plain install ({sorted(providers)})", name=top)
        return None


def find_spec(name, package=None, find=importlib.util.find_spec):
    # "is it installed?" probes get None for a missing top-level module, as without the package
    try:
        return find(name, package)
    except NotInPlainInstall:
        if "." in name:
            raise
        return None


sys.meta_path.insert(0, PlainInstall())
importlib.util.find_spec = find_spec
failures = {}
for argv in json.loads(sys.argv[2]):
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            from prefopt.cli import main

            status = main(argv)
    except SystemExit as stop:
        status = stop.code
    except Exception:
        status, output = 1, io.StringIO(traceback.format_exc())
    if status:
        failures[" ".join(argv)] = output.getvalue()[-2000:]
print(json.dumps(failures))
"""

COMMANDS = [
    ["--help"],
    ["losses"],
    ["losses", "show", "dpo"],
    ["verify", "dpo", "--max-examples", "5"],
    ["cache", "info", "--dir", "{tmp}"],
    ["train", "--help"],
    ["eval", "--help"],
    ["cache", "build", "--help"],
    ["scorers"],
    ["sample", "--help"],
    ["score", "--help"],
]


def test_commands_run_on_a_plain_install(tmp_path):
    commands = [[item.format(tmp=tmp_path) for item in command] for command in COMMANDS]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFOPT_NO_PLUGINS": "1"}
    arguments = [json.dumps(sorted(plain_install())), json.dumps(commands)]
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_INSTALL_CLI, *arguments], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.splitlines()[-1])
    assert not failures, "\n".join(f"prefopt {command}:\n{output}" for command, output in failures.items())


def test_the_finder_refuses_what_a_plain_install_lacks(tmp_path):
    """The subprocess really blocks a distribution outside the closure: pytest is no runtime dependency."""
    allowed = json.dumps(sorted(plain_install()))
    script = PLAIN_INSTALL_CLI.replace("from prefopt.cli import main", "import pytest")
    result = subprocess.run([sys.executable, "-c", script, allowed, '[["losses"]]'], capture_output=True, text=True)
    failures = json.loads(result.stdout.splitlines()[-1])
    assert "No module named 'pytest' in a plain install" in failures["losses"]


def third_party_imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(top-level module, line, inside a function) for every absolute import of a non-stdlib, non-prefopt module."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.partition(".")[0]
            if top not in sys.stdlib_module_names and top not in ("prefopt", "__future__"):
                found.append((top, node.lineno, in_function))
        nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, nested)

    visit(tree, False)
    return found


def test_every_imported_package_is_declared():
    """Module-level imports need a direct runtime dependency; imports inside a function may use an extra instead.

    A package only reachable through another dependency's requirements is not declared: that package may drop it.
    """
    runtime = {normalise(requirement.name) for requirement in RUNTIME}
    optional = {normalise(requirement.name) for requirement in EXTRAS}
    problems = []
    for path in sorted((ROOT / "prefopt").rglob("*.py")):
        for top, line, in_function in third_party_imports(ast.parse(path.read_text(), str(path))):
            providers = {normalise(name) for name in OWNERS.get(top, ())}
            declared = runtime | optional if in_function else runtime
            if not providers & declared:
                where = f"{path.relative_to(ROOT)}:{line}"
                problems.append(f"{where} imports {top} ({sorted(providers) or 'not installed'}), not declared")
    assert not problems, "\n".join(problems)


def test_installed_versions_lie_within_the_declared_bounds():
    """The suite runs against versions pyproject.toml admits; it does not run the lowest ones (docs/training.md)."""
    problems = []
    for requirement in [*RUNTIME, *EXTRAS]:
        if not applies(requirement, set()):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            if requirement in RUNTIME:
                problems.append(f"{requirement.name} is a runtime dependency but is not installed")
            continue  # an extra that this environment does not install (gguf)
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name} {version} is outside {requirement.specifier}")
    assert not problems, "\n".join(problems)
