"""hitl_client stands alone: it imports nothing of the server and depends on httpx and cryptography only;
each framework adapter imports its framework alone, declared as an optional extra."""

import ast
import sys
import tomllib

from tests.conftest import ROOT

PACKAGE = ROOT / "clients" / "python"


# The adapters, and what each may import beyond the core's (the framework and what it brings).
ADAPTERS = {"langgraph": {"langgraph", "langchain_core", "pydantic"}, "openai_agents": {"agents", "pydantic"}}
CORE = set(sys.stdlib_module_names) | {"httpx", "cryptography", "hitl_client"}


def imports(module) -> set[str]:
    imported = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported


def test_the_sdk_imports_only_the_standard_library_httpx_and_cryptography():
    for module in (PACKAGE / "hitl_client").glob("*.py"):
        assert imports(module) - CORE - ADAPTERS.get(module.stem, set()) == set(), module.name
    assert (PACKAGE / "hitl_client" / "py.typed").exists()
    init = (PACKAGE / "hitl_client" / "__init__.py").read_text()
    assert not any(f".{adapter}" in init for adapter in ADAPTERS)  # `import hitl_client` needs no framework


def test_the_package_declares_httpx_and_cryptography_as_its_only_dependencies():
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert sorted(dep.split(">")[0].split("=")[0] for dep in project["dependencies"]) == ["cryptography", "httpx"]


def test_each_adapter_is_an_optional_extra_named_after_its_framework():
    extras = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {name: [dep.split(">")[0] for dep in deps] for name, deps in extras.items()} == {
        "langgraph": ["langgraph"],
        "openai-agents": ["openai-agents"],
    }
