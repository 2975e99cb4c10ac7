from django.apps import AppConfig


class McpgateConfig(AppConfig):
    name = "mcpgate"
    verbose_name = "MCP server and gateway"
