"""The approval tools an MCP client calls: the agent API's submit, wait, outcome and cancel, for an
agent authenticated by its token. Each validates with the REST API's serializers and calls the same
code (hitl.api.intake, hitl.services), so an answer is the REST API's JSON, and an error names the
field and the reason as the REST API's 400 does."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.exceptions import ValidationError

from hitl import services
from hitl.api import intake
from hitl.api.errors import exception_handler
from hitl.api.serializers import COMPENSATION_REPORTS, ActionOut, ActionOutcomeIn, ActionSubmitIn
from hitl.errors import Invalid, ServiceError
from hitl.models import Agent

from .schemas import component

ACTION_ID = {"type": "string", "format": "uuid", "description": "The action's `id`, from request_approval."}


def wait_schema() -> dict:
    top, default = settings.HITL_MCP_MAX_WAIT_SECONDS, settings.HITL_MCP_DEFAULT_WAIT_SECONDS
    return {
        "type": "integer", "minimum": 0, "maximum": top, "default": min(default, top),
        "description": f"Seconds to wait for a reviewer's decision before answering (0 to {top}): short enough "
        "for your client's tool timeout. While the answer's `status` is `pending`, call get_decision again.",
    }  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """A tool's result: the JSON it returns, a line for the model, and whether it is an error."""

    data: dict
    text: str
    error: bool = False


def definitions() -> list[dict]:
    """name, description and input schema of each tool."""
    submit = component(
        "ActionSubmitIn",
        wait=wait_schema(),
        idempotency_key={
            "type": "string", "maxLength": 255,
            "description": "The same key on a retry finds the first answer instead of submitting the action again.",
        },
    )  # fmt: skip
    outcome = component("ActionOutcomeIn", action_id=ACTION_ID)
    outcome["required"] = [*outcome.get("required", []), "action_id"]
    return [
        {
            "name": "request_approval",
            "description": "Ask before you act. Submit the action you are about to take (its arguments as `payload`, "
            "a one-line `summary`, your `confidence`); the service routes it by risk. The answer's `status`: "
            "`approved`, run the tool with `final_payload` (a reviewer may have edited it) and then call "
            "report_outcome; `pending`, a person is deciding: call get_decision with `id`; `rejected`, do not run "
            "it (`decision.comment` says why); `expired`, nobody decided in time: do not run it.",
            "input_schema": submit,
        },
        {
            "name": "get_decision",
            "description": "Where an action you submitted stands, waiting up to `wait` seconds for a reviewer's "
            "decision. Same answer as request_approval's.",
            "input_schema": {
                "type": "object",
                "properties": {"action_id": ACTION_ID, "wait": wait_schema()},
                "required": ["action_id"],
            },
        },
        {
            "name": "report_outcome",
            "description": "After running an approved action, say so once: `executed` or `failed`; after undoing a "
            "flagged one, `compensated` or `compensation_failed`.",
            "input_schema": outcome,
        },
        {
            "name": "cancel",
            "description": "Withdraw an action that is still `pending`, when you no longer need it.",
            "input_schema": {"type": "object", "properties": {"action_id": ACTION_ID}, "required": ["action_id"]},
        },
    ]


async def call(agent: Agent, name: str, arguments: dict[str, Any]) -> Answer:
    """Run tool `name` for `agent`; a bad argument or a refused change is an error Answer, not a raise."""
    tool = _TOOLS.get(name)
    if tool is None:
        return Answer({"error": "unknown_tool", "message": f"No tool {name!r}."}, f"No tool {name!r}.", error=True)
    try:
        return _answer(await tool(agent, dict(arguments or {})))
    except (ServiceError, ValidationError) as problem:
        return error_answer(problem)


def error_answer(problem: Exception) -> Answer | None:
    """The REST API's 4xx body for a refused argument or change, as a tool error; None for another error."""
    if not isinstance(problem, (ServiceError, ValidationError)):
        return None
    body = exception_handler(problem, {"request": None}).data
    fields = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in body.get("fields", {}).items())
    return Answer(body, f"{body['message']} {fields}".strip(), error=True)


async def _request_approval(agent: Agent, arguments: dict) -> dict:
    wait = seconds_of(arguments.pop("wait", settings.HITL_MCP_DEFAULT_WAIT_SECONDS))
    key = arguments.pop("idempotency_key", None)

    def submit():
        return intake.submit(agent=agent, data=_valid(ActionSubmitIn, arguments), raw=arguments, key=key)[0]

    body = await sync_to_async(submit)()
    if body["status"] != "pending" or not wait:
        return body
    return await _decision(agent, {"action_id": body["id"], "wait": wait})


async def _decision(agent: Agent, arguments: dict) -> dict:
    action_id, wait = action_id_of(arguments), seconds_of(arguments.get("wait", settings.HITL_MCP_DEFAULT_WAIT_SECONDS))
    action = await intake.action_awaited(agent=agent, action_id=action_id, wait=wait)
    return await sync_to_async(lambda: ActionOut(action).data)()


@sync_to_async
def _report_outcome(agent: Agent, arguments: dict) -> dict:
    action_id = action_id_of(arguments)
    data = _valid(ActionOutcomeIn, {k: v for k, v in arguments.items() if k != "action_id"})
    compensation = data["outcome"] in COMPENSATION_REPORTS
    report = services.action_compensation_report if compensation else services.action_outcome_report
    return ActionOut(report(agent=agent, action_id=action_id, **data)).data


@sync_to_async
def _cancel(agent: Agent, arguments: dict) -> dict:
    return ActionOut(services.action_cancel(agent=agent, action_id=action_id_of(arguments))).data


_TOOLS = {
    "request_approval": _request_approval,
    "get_decision": _decision,
    "report_outcome": _report_outcome,
    "cancel": _cancel,
}


def _valid(serializer_class, arguments: dict) -> dict:
    serializer = serializer_class(data=arguments)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def action_id_of(arguments: dict):
    try:
        return uuid.UUID(str(arguments.get("action_id", "")))
    except ValueError:
        raise Invalid("action_id must be an action's id (a UUID).", fields={"action_id": ["Not a UUID."]}) from None


def seconds_of(raw) -> int:
    top = settings.HITL_MCP_MAX_WAIT_SECONDS
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= top:
        raise Invalid(f"wait must be a whole number of seconds from 0 to {top}.", fields={"wait": [f"0 to {top}."]})
    return raw


def _answer(body: dict) -> Answer:
    """The action as the REST API shows it, with one line telling the model what to do next."""
    status = body.get("status")
    decision = body.get("decision") or {}
    if status == "approved":
        line = "Approved: run the tool with final_payload, then call report_outcome."
        if body.get("outcome"):
            line = f"Approved; its outcome was reported: {body['outcome']['outcome']}."
    elif status == "pending":
        line = f"Pending: a person is deciding. Call get_decision with action_id {body['id']} to wait for it."
    elif status == "rejected":
        line = f"Rejected: do not run it. The reviewer said: {decision.get('comment') or 'no reason given'}."
    else:
        line = f"{str(status).capitalize()}: do not run it."
    return Answer(body, f"{line}\n{json.dumps(body, default=str)}")
