"""The MCP tools' input schemas, from the same serializers and the same OpenAPI generator as the REST
API's documentation: a field's type, limits and description are written once (hitl.api.serializers)."""

from functools import cache

from drf_spectacular.generators import SchemaGenerator


def component(name: str, **extra_properties) -> dict:
    """The request schema of one API component (e.g. ActionSubmitIn) as a JSON Schema object, its
    references inlined as `$defs`, with `extra_properties` added (the MCP call's own options)."""
    components = _components()
    wanted = f"{name}Request" if f"{name}Request" in components else name
    schema = _rewritten(components[wanted])
    used = _references(schema, components)
    if used:
        schema["$defs"] = {ref: _rewritten(components[ref]) for ref in sorted(used)}
    schema["properties"] = {**schema.get("properties", {}), **extra_properties}
    return schema


def _rewritten(value):
    if isinstance(value, dict):
        return {
            key: (item.replace("#/components/schemas/", "#/$defs/") if key == "$ref" else _rewritten(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_rewritten(item) for item in value]
    return value


def _references(value, components, found=None) -> set:
    found = set() if found is None else found
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                name = item.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    _references(components[name], components, found)
            else:
                _references(item, components, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, components, found)
    return found


@cache
def _components() -> dict:
    """The OpenAPI document's schemas, generated once per process."""
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
