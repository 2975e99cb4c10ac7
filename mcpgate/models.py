"""The MCP gateway's configuration (admin): upstream MCP servers, and which of their tools wait for
a human decision, as which action type; and each gated call that ran, once."""

import shlex
import string

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Upstream(models.Model):
    """An MCP server the gateway fronts: a command it starts (stdio) or a URL (streamable HTTP)."""

    class Transport(models.TextChoices):
        STDIO = "stdio", "stdio (a command the gateway starts)"
        HTTP = "http", "streamable HTTP (a URL)"

    name = models.SlugField(max_length=64, unique=True, help_text="What to give manage.py mcp_server --gateway NAME.")
    transport = models.CharField(max_length=8, choices=Transport.choices)
    command = models.CharField(
        max_length=2000, blank=True, help_text="stdio: the command line, e.g. npx -y @acme/refunds-mcp."
    )
    environment = models.JSONField(
        default=dict,
        blank=True,
        help_text="stdio: environment variables for the command, as {name: value} (kept secret), besides a safe "
        "few such as PATH and HOME; nothing of the gateway's own environment is passed on.",
    )
    url = models.URLField(max_length=2000, blank=True, help_text="HTTP: the server's MCP endpoint.")
    authorization = models.CharField(
        max_length=2000, blank=True, help_text="HTTP: the Authorization header the upstream expects (kept secret)."
    )
    is_active = models.BooleanField(default=True)

    def __str__(self):
        return self.name

    def secret_fields(self) -> tuple[str, ...]:
        """The upstream's credential stays out of the audit log (hitl.redaction)."""
        return ("authorization", "environment")

    def clean(self):
        if self.transport == self.Transport.STDIO and not shlex.split(self.command or ""):
            raise ValidationError({"command": "A stdio upstream needs the command that starts it."})
        environment = self.environment or {}
        if not isinstance(environment, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
        ):
            raise ValidationError({"environment": "Give a JSON object of variable name → text value."})
        if self.transport == self.Transport.HTTP and not self.url:
            raise ValidationError({"url": "An HTTP upstream needs its URL."})


class GatedTool(models.Model):
    """One upstream tool that runs only once a reviewer (or the policy) approves its arguments."""

    upstream = models.ForeignKey(Upstream, on_delete=models.CASCADE, related_name="gated_tools")
    tool = models.CharField(max_length=128, help_text="The tool's name on the upstream server.")
    action_type = models.ForeignKey(
        "hitl.ActionType", on_delete=models.PROTECT, related_name="+", help_text="What a call becomes, and its policy."
    )
    summary = models.CharField(
        max_length=500,
        help_text="The line a reviewer reads first; the call's arguments by name in braces, e.g. "
        "Refund {amount} {currency} on order {order_id}.",
    )
    confidence = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="The confidence the action is submitted with (an MCP call states none): below the type's "
        "threshold a person reviews it.",
    )
    argument_map = models.JSONField(
        default=dict,
        blank=True,
        help_text="Arguments renamed in the payload a reviewer sees, as {argument: payload field}; the others keep "
        "their names. The upstream gets the approved payload with the names mapped back.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upstream", "tool"], name="gated_tool_once")]

    def __str__(self):
        return f"{self.upstream}.{self.tool} → {self.action_type_id and self.action_type.key}"

    def clean(self):
        mapping = self.argument_map or {}
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in
                                                    mapping.items()):  # fmt: skip
            raise ValidationError({"argument_map": "Give a JSON object of argument name → payload field name."})
        if len(set(mapping.values())) != len(mapping):
            raise ValidationError({"argument_map": "Two arguments map to the same payload field."})
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(self.summary) if name is not None]
        except ValueError as problem:
            raise ValidationError({"summary": f"Not a summary template: {problem}."}) from None
        if any(not name.isidentifier() for name in fields):
            raise ValidationError({"summary": "Name arguments in braces, such as {order_id}."})

    def payload_of(self, arguments: dict) -> dict:
        return {self.argument_map.get(name, name): value for name, value in arguments.items()}

    def arguments_of(self, payload: dict) -> dict:
        back = {field: name for name, field in self.argument_map.items()}
        return {back.get(field, field): value for field, value in payload.items()}

    def summary_of(self, arguments: dict) -> str:
        class Missing(dict):
            def __missing__(self, key):
                return f"{{{key}}}"

        return self.summary.format_map(Missing({k: v for k, v in arguments.items() if isinstance(k, str)}))[:500]


class GatewayRun(models.Model):
    """A gated call the gateway forwarded upstream, once per approved action (the row is the claim)."""

    action = models.OneToOneField("hitl.Action", on_delete=models.PROTECT, related_name="+")
    tool = models.ForeignKey(GatedTool, on_delete=models.PROTECT, related_name="runs")
    arguments = models.JSONField(help_text="What the upstream tool was called with: the approved payload.")
    result = models.JSONField(null=True, blank=True, help_text="The upstream's answer.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.tool} for {self.action_id}"
