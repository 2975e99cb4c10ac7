"""hitl_client stands alone: it imports nothing of the server and depends on httpx and cryptography only."""

import ast
import sys
import tomllib

from tests.conftest import ROOT

PACKAGE = ROOT / "clients" / "python"


def test_the_sdk_imports_only_the_standard_library_httpx_and_cryptography():
    allowed = set(sys.stdlib_module_names) | {"httpx", "cryptography", "hitl_client"}
    imported = set()
    for module in (PACKAGE / "hitl_client").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert imported - allowed == set()
    assert (PACKAGE / "hitl_client" / "py.typed").exists()


def test_the_package_declares_httpx_and_cryptography_as_its_only_dependencies():
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert sorted(dep.split(">")[0].split("=")[0] for dep in project["dependencies"]) == ["cryptography", "httpx"]
