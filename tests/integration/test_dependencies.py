"""Every package declares what its code imports, and one library has one version range across the packages."""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from harness import ROOT
from packaging.requirements import Requirement

PACKAGES = sorted((ROOT / "packages").glob("*/pyproject.toml"))


def _requirements(pyproject: Path) -> dict[str, Requirement]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {r.name.lower(): r for r in map(Requirement, deps)}


def _optional(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: ... except ImportError / ModuleNotFoundError`` (optional extras)."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _imported_top_level(src: Path) -> set[str]:
    names = set()
    for file in src.rglob("*.py"):
        tree = ast.parse(file.read_text())
        optional = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_every_imported_library_is_declared_by_the_package_or_a_project_package_it_needs():
    own = {tomllib.loads(p.read_text())["project"]["name"]: p for p in PACKAGES}
    import_to_dist = {k: [d.lower().replace("_", "-") for d in v] for k, v in packages_distributions().items()}
    missing = {}
    for name, pyproject in own.items():
        declared, todo = set(), [name]
        while todo:  # this package's requirements and those of the project packages it requires
            reqs = _requirements(own[todo.pop()])
            declared |= set(reqs)
            todo += [r for r in reqs if r in own and r not in declared - set(reqs)]
        local_imports = {p.name for p in (pyproject.parent / "src").iterdir() if p.is_dir()}
        for module in _imported_top_level(pyproject.parent / "src") - local_imports:
            dists = import_to_dist.get(module, [module])
            if not set(dists) & (declared | set(own)):
                missing.setdefault(name, []).append(f"{module} ({'/'.join(dists)})")
    assert missing == {}, missing


def test_one_version_range_per_library():
    ranges = {}
    for pyproject in PACKAGES:
        for name, req in _requirements(pyproject).items():
            if req.specifier:
                ranges.setdefault(name, {})[pyproject.parent.name] = str(req.specifier)
    conflicting = {n: r for n, r in ranges.items() if len(set(r.values())) > 1}
    assert conflicting == {}, conflicting
