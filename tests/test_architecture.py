"""Feature apps talk to each other only through each other's services (writes) and selectors
(reads). The core's own rule (it imports no feature app) is `lint-imports` in `make test`
(.importlinter); this is the one import-linter cannot say in a line: every module of a feature
other than those two is private to it."""

import grimp

FEATURES = ("reviews", "escalation", "calibration", "callbacks", "mcpgate")
PUBLIC = ("services", "selectors")


def test_a_feature_imports_another_only_through_its_services_and_selectors():
    graph = grimp.build_graph("hitl", "audit", *FEATURES, "demo")
    crossings = [
        f"{edge['importer']} imports {edge['imported']} (line {edge['line_numbers'][0]})"
        for importer in FEATURES
        for imported in FEATURES
        if importer != imported
        for module in sorted(graph.find_descendants(importer) | {importer})
        for edge in _imports_of(graph, module, imported)
        if edge["imported"] not in {f"{imported}.{name}" for name in PUBLIC}
    ]
    assert crossings == []


def _imports_of(graph, module: str, package: str) -> list[dict]:
    targets = graph.find_modules_directly_imported_by(module)
    return [
        {"importer": module, "imported": target, "line_numbers": [d["line_number"] for d in details]}
        for target in sorted(targets)
        if target == package or target.startswith(f"{package}.")
        for details in [graph.get_import_details(importer=module, imported=target)]
    ]
