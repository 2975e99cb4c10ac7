from django.contrib import admin

from hitl.admin import ReadOnlyAdmin

from .models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: every webhook to an agent's callback_url, with how its attempts went."""

    list_display = ["created_at", "action_id", "event", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event"]
    search_fields = ["=id", "=action__id"]
    date_hierarchy = "created_at"
    fields = [
        "id", "action", "event", "url", "status", "attempts", "last_status_code", "last_error", "next_attempt_at",
        "created_at", "delivered_at", "body",
    ]  # fmt: skip
    readonly_fields = fields
