"""Declare what you import: every third-party module that harness/ and device_runners/ import,
at the top of a module or inside a function, is provided by a distribution that pyproject.toml
declares (as a dependency or in an extra). A package installed by hand on one machine must not
make the tests pass there and fail on a fresh one (boto3 did, for the AWS Device Farm provider).
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib

from tests.support.paths import ROOT

# Import names whose distribution name differs, for modules this machine lacks (installed
# ones are looked up in `packages_distributions()`).
ALIASES = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn", "cv2": "opencv-python",
           "dateutil": "python-dateutil", "psycopg": "psycopg"}
OWN = {"harness", "device_runners", "tests"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    names = set()
    for spec in specs:
        names.add(_normal(re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0]))
    return names


def third_party_imports() -> dict[str, list[str]]:
    """Top-level module name -> the files importing it."""
    found: dict[str, list[str]] = {}
    for package in ("harness", "device_runners"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in OWN or top in sys.stdlib_module_names:
                        continue
                    found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_declared():
    declared = declared_distributions()
    providers = metadata.packages_distributions()
    undeclared = {}
    for module, files in third_party_imports().items():
        dists = {_normal(d) for d in providers.get(module, [])} or {_normal(ALIASES.get(module, module))}
        if not dists & declared:
            undeclared[module] = sorted(set(files))
    assert not undeclared, (
        "imported but provided by no distribution pyproject.toml declares (add it to the "
        f"dependencies or an extra): {undeclared}")


def test_the_check_sees_imports_inside_functions():
    """boto3 is imported only inside the provider's opener, and must still be found."""
    imports = third_party_imports()
    assert "device_runners/android/providers/aws_device_farm.py" in imports["boto3"]
    assert "torch" in imports and "click" in imports
    assert "boto3" in declared_distributions()
