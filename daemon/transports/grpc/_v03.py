"""A2A 0.3 over gRPC (``a2a.v1.A2AService``): its requests as 1.0 calls, 1.0 answers in 0.3.

Both sides are the proto3 JSON mapping of their protos (what ``json_format`` gives and
takes), which is not the 0.3 JSON-RPC shape (that one tags parts with ``kind`` and spells
states in lower case); so this is the gRPC transport's own encoding step, pure functions
over dicts. The differences it bridges: resource names (``tasks/{id}``,
``tasks/{id}/pushNotificationConfigs/{id}``) instead of id fields, a message's parts in
``content``, file and data parts wrapped, ``TASK_STATE_CANCELLED``, ``blocking`` instead
of ``returnImmediately``, ``final`` on status updates, and the older card.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...errors import InvalidParams

__all__ = ["ProtoJsonV03", "V03Adapter"]

Json = dict[str, Any]

_TERMINAL = {"TASK_STATE_COMPLETED", "TASK_STATE_CANCELED", "TASK_STATE_FAILED", "TASK_STATE_REJECTED"}


class V03Adapter(Protocol):
    """Turns a 0.3 rpc into a 1.0 API call and the call's answer back into 0.3."""

    def request(self, rpc: str, params: Json) -> tuple[str, Json]:
        """The 1.0 method name and its params for the 0.3 ``rpc`` with ``params``."""
        ...

    def result(self, rpc: str, result: Any) -> Json:
        """The 0.3 answer of ``rpc`` (one stream item, for a stream) from a 1.0 one."""
        ...


def _pick(src: Json, *keys: str) -> Json:
    return {k: src[k] for k in keys if k in src}


def _task_id(name: Any, field: str = "name") -> str:
    parts = name.split("/") if isinstance(name, str) else []
    if len(parts) != 2 or parts[0] != "tasks" or not parts[1]:
        raise InvalidParams(f"{field}: expected tasks/{{id}}, got {name!r}", data={"field": field})
    return parts[1]


def _config_ids(name: Any) -> tuple[str, str]:
    parts = name.split("/") if isinstance(name, str) else []
    if len(parts) != 4 or parts[0] != "tasks" or parts[2] != "pushNotificationConfigs" \
            or not parts[1] or not parts[3]:
        raise InvalidParams(f"name: expected tasks/{{id}}/pushNotificationConfigs/{{id}}, got {name!r}",
                            data={"field": "name"})
    return parts[1], parts[3]


# -- 0.3 -> 1.0 (requests) --------------------------------------------------------------------

def _part_in(part: Json) -> Json:
    out = _pick(part, "metadata")
    if "text" in part:
        out["text"] = part["text"]
    elif isinstance(file := part.get("file"), dict):
        if "fileWithUri" in file:
            out["url"] = file["fileWithUri"]
        elif "fileWithBytes" in file:
            out["raw"] = file["fileWithBytes"]
        if "mimeType" in file:
            out["mediaType"] = file["mimeType"]
        if "name" in file:
            out["filename"] = file["name"]
    elif isinstance(data := part.get("data"), dict):
        out["data"] = data.get("data", {})
    return out


def _message_in(msg: Json) -> Json:
    out = _pick(msg, "messageId", "contextId", "taskId", "role", "metadata", "extensions")
    out["parts"] = [_part_in(p) for p in msg.get("content", [])]
    return out


def _push_in(cfg: Json) -> Json:
    out = _pick(cfg, "id", "url", "token")
    if isinstance(auth := cfg.get("authentication"), dict):
        schemes = auth.get("schemes") or [""]
        out["authentication"] = {"scheme": schemes[0], **_pick(auth, "credentials")}
    return out


def _send_in(params: Json) -> Json:
    out = _pick(params, "metadata")
    if isinstance(msg := params.get("message"), dict):
        out["message"] = _message_in(msg)
    if isinstance(cfg := params.get("configuration"), dict):
        config = _pick(cfg, "acceptedOutputModes")
        if isinstance(push := cfg.get("pushNotification"), dict):
            config["taskPushNotificationConfig"] = _push_in(push)
        if cfg.get("historyLength"):  # 0.3: 0 means "all", so it stays unset
            config["historyLength"] = cfg["historyLength"]
        config["returnImmediately"] = not cfg.get("blocking", False)
        out["configuration"] = config
    return out


# -- 1.0 -> 0.3 (answers) ---------------------------------------------------------------------

def _part_out(part: Json) -> Json:
    out = _pick(part, "metadata")
    if "text" in part:
        out["text"] = part["text"]
    elif "url" in part or "raw" in part:
        file = {"fileWithUri": part["url"]} if "url" in part else {"fileWithBytes": part["raw"]}
        if "mediaType" in part:
            file["mimeType"] = part["mediaType"]
        if "filename" in part:
            file["name"] = part["filename"]
        out["file"] = file
    elif "data" in part:
        data = part["data"]
        out["data"] = {"data": data if isinstance(data, dict) else {"value": data}}
    return out


def _message_out(msg: Json) -> Json:
    out = _pick(msg, "messageId", "contextId", "taskId", "role", "metadata", "extensions")
    out["content"] = [_part_out(p) for p in msg.get("parts", [])]
    return out


def _status_out(status: Json) -> Json:
    out = _pick(status, "timestamp")
    state = status.get("state", "TASK_STATE_UNSPECIFIED")
    out["state"] = "TASK_STATE_CANCELLED" if state == "TASK_STATE_CANCELED" else state
    if isinstance(msg := status.get("message"), dict):
        out["message"] = _message_out(msg)
    return out


def _artifact_out(art: Json) -> Json:
    out = _pick(art, "artifactId", "name", "description", "metadata", "extensions")
    out["parts"] = [_part_out(p) for p in art.get("parts", [])]
    return out


def _task_out(task: Json) -> Json:
    out = _pick(task, "id", "contextId", "metadata")
    if isinstance(status := task.get("status"), dict):
        out["status"] = _status_out(status)
    out["artifacts"] = [_artifact_out(a) for a in task.get("artifacts", [])]
    out["history"] = [_message_out(m) for m in task.get("history", [])]
    return out


def _item_out(item: Json) -> Json:
    if "task" in item:
        return {"task": _task_out(item["task"])}
    if "message" in item:
        return {"message": _message_out(item["message"])}
    if isinstance(up := item.get("statusUpdate"), dict):
        status = up.get("status", {})
        return {"statusUpdate": {**_pick(up, "taskId", "contextId", "metadata"),
                                 "status": _status_out(status),
                                 "final": status.get("state") in _TERMINAL}}
    if isinstance(up := item.get("artifactUpdate"), dict):
        return {"artifactUpdate": {**_pick(up, "taskId", "contextId", "append", "lastChunk", "metadata"),
                                   "artifact": _artifact_out(up.get("artifact", {}))}}
    return {}


def _push_out(cfg: Json) -> Json:
    inner = _pick(cfg, "id", "url", "token")
    if isinstance(auth := cfg.get("authentication"), dict):
        inner["authentication"] = {"schemes": [auth.get("scheme", "")], **_pick(auth, "credentials")}
    name = f"tasks/{cfg.get('taskId', '')}/pushNotificationConfigs/{cfg.get('id', '')}"
    return {"name": name, "pushNotificationConfig": inner}


def _card_out(card: Json) -> Json:
    out = _pick(card, "name", "description", "provider", "version", "documentationUrl",
                "securitySchemes", "defaultInputModes", "defaultOutputModes", "signatures", "iconUrl")
    out["protocolVersion"] = "0.3.0"
    interfaces = card.get("supportedInterfaces", [])
    if interfaces:
        out["url"] = interfaces[0].get("url", "")
        out["preferredTransport"] = interfaces[0].get("protocolBinding", "")
        out["additionalInterfaces"] = [{"url": i.get("url", ""), "transport": i.get("protocolBinding", "")}
                                       for i in interfaces]
    caps = card.get("capabilities", {})
    out["capabilities"] = _pick(caps, "streaming", "pushNotifications", "extensions")
    out["supportsAuthenticatedExtendedCard"] = bool(caps.get("extendedAgentCard", False))
    if "securityRequirements" in card:
        out["security"] = card["securityRequirements"]
    out["skills"] = [{**_pick(s, "id", "name", "description", "tags", "examples", "inputModes", "outputModes"),
                      **({"security": s["securityRequirements"]} if "securityRequirements" in s else {})}
                     for s in card.get("skills", [])]
    return out


class ProtoJsonV03:
    """The 0.3 gRPC service's conversions (the default :class:`V03Adapter`)."""

    def request(self, rpc: str, params: Json) -> tuple[str, Json]:
        """The 1.0 method name and its params for the 0.3 ``rpc`` with ``params``."""
        if rpc in ("SendMessage", "SendStreamingMessage"):
            return rpc, _send_in(params)
        if rpc == "GetTask":
            return rpc, {"id": _task_id(params.get("name")), **_pick(params, "historyLength")}
        if rpc == "CancelTask":
            return rpc, {"id": _task_id(params.get("name"))}
        if rpc == "TaskSubscription":
            return "SubscribeToTask", {"id": _task_id(params.get("name"))}
        if rpc == "CreateTaskPushNotificationConfig":
            config = params.get("config", {}).get("pushNotificationConfig", {})
            out = {"taskId": _task_id(params.get("parent"), "parent"), **_push_in(config)}
            if params.get("configId"):
                out["id"] = params["configId"]
            return rpc, out
        if rpc in ("GetTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig"):
            task_id, config_id = _config_ids(params.get("name"))
            return rpc, {"taskId": task_id, "id": config_id}
        if rpc == "ListTaskPushNotificationConfig":
            return "ListTaskPushNotificationConfigs", {
                "taskId": _task_id(params.get("parent"), "parent"), **_pick(params, "pageSize", "pageToken")}
        if rpc == "GetAgentCard":
            return rpc, {}
        raise InvalidParams(f"no 0.3 conversion for {rpc}")  # a servicer/adapter mismatch

    def result(self, rpc: str, result: Any) -> Json:
        """The 0.3 answer of ``rpc`` (one stream item, for a stream) from a 1.0 one."""
        if not isinstance(result, dict):
            return {}
        if rpc in ("SendMessage", "SendStreamingMessage", "TaskSubscription"):
            return _item_out(result)
        if rpc in ("GetTask", "CancelTask"):
            return _task_out(result)
        if rpc in ("CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig"):
            return _push_out(result)
        if rpc == "ListTaskPushNotificationConfig":
            return {"configs": [_push_out(c) for c in result.get("configs", [])],
                    **_pick(result, "nextPageToken")}
        if rpc == "GetAgentCard":
            return _card_out(result)
        return {}
