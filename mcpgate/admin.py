from django.contrib import admin

from hitl.admin import PolicyAdmin, ReadOnlyAdmin
from hitl.redaction import redacted

from .models import GatedTool, GatewayRun, Upstream


@admin.register(Upstream)
class UpstreamAdmin(PolicyAdmin):
    """The MCP servers the gateway fronts (audited like any policy change, the credential redacted)."""

    list_display = ["name", "transport", "where", "gated", "is_active"]

    @admin.display(description="command or URL")
    def where(self, obj):
        return obj.command if obj.transport == Upstream.Transport.STDIO else redacted(obj.url)

    @admin.display(description="gated tools")
    def gated(self, obj):
        return ", ".join(t.tool for t in obj.gated_tools.all()) or "none: every tool passes through"


@admin.register(GatedTool)
class GatedToolAdmin(PolicyAdmin):
    """Which upstream tools wait for approval, as which action type (audited)."""

    list_display = ["upstream", "tool", "action_type", "confidence"]
    list_filter = ["upstream", "action_type"]


@admin.register(GatewayRun)
class GatewayRunAdmin(ReadOnlyAdmin):
    """Each approved call the gateway forwarded, with the arguments it sent."""

    list_display = ["created_at", "tool", "action"]
    list_select_related = ["tool__upstream", "tool__action_type"]
