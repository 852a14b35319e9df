"""batch: several independent tool calls in one, run concurrently."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...errors import CodetetherError, ToolFailure
from ._util import cap_text
from .base import Recheck, Tool, ToolContext, ToolResult

__all__ = ["BatchTool"]

MAX_CALLS = 10
MAX_OUTPUT_CHARS = 120_000


class BatchCall(msgspec.Struct, forbid_unknown_fields=True):
    tool: Annotated[str, Meta(description="Name of the tool to call, e.g. read_file.")]
    arguments: Annotated[
        dict[str, Any] | str,
        Meta(description="The tool's arguments, exactly as for a direct call (a JSON object)."),
    ] = {}


class BatchParams(msgspec.Struct, forbid_unknown_fields=True):
    calls: Annotated[
        list[BatchCall],
        Meta(
            min_length=1,
            max_length=MAX_CALLS,
            description=f"Up to {MAX_CALLS} independent calls; none may depend on another's result.",
        ),
    ]


class BatchTool(Tool):
    name = "batch"
    description = (
        f"Run up to {MAX_CALLS} independent tool calls at once and get every result back "
        "together, e.g. reading several files or running several searches. Read-only "
        "tools run concurrently; tools that change things run one after another and need "
        "the same approval as when called directly. Calls must not depend on each other; "
        "batch cannot contain batch. One failing call does not stop the others."
    )
    params = BatchParams
    # batch itself touches nothing; each sub-call is gated on its own (see run).
    read_only = True

    def approval_subject(self, args: BatchParams) -> str:
        return " ".join(call.tool for call in args.calls)

    async def run(self, args: BatchParams, ctx: ToolContext) -> ToolResult:
        if ctx.registry is None:
            raise ToolFailure("batch is unavailable: no tool registry in this session")
        prepared: list[tuple[Tool, Any, Recheck | None] | ToolResult] = []
        # Approval happens here, one call at a time, before anything runs.
        for call in args.calls:
            prepared.append(await self._prepare(call, ctx))
        writes = asyncio.Lock()  # serialises the calls that change things, in order
        results: list[ToolResult | None] = [None] * len(prepared)

        async def one(index: int, tool: Tool, parsed: Any, recheck: Recheck | None) -> None:
            sub = dataclasses.replace(ctx, call_id=f"{ctx.call_id}.{index + 1}")
            started = time.monotonic()
            if tool.read_only:
                results[index] = await _run_one(tool, parsed, sub)
            else:
                async with writes:
                    try:
                        if recheck is not None:  # S3: judged again right before it runs
                            await recheck()
                    except CodetetherError as exc:
                        results[index] = ToolResult(exc.message, is_error=True, metadata=_error_meta(exc))
                    else:
                        results[index] = await _run_one(tool, parsed, sub)
            if ctx.report_subcall is not None:
                result = results[index]
                assert result is not None
                await ctx.report_subcall(sub.call_id, tool.name, msgspec.json.encode(parsed).decode(),
                                         result, (time.monotonic() - started) * 1000)

        async with asyncio.TaskGroup() as group:
            for index, item in enumerate(prepared):
                if isinstance(item, ToolResult):
                    results[index] = item
                else:
                    group.create_task(one(index, *item), name=f"batch:{ctx.call_id}:{index + 1}")
        final = [r if r is not None else ToolResult("no result", is_error=True) for r in results]
        return _render(args, final)

    async def _prepare(self, call: BatchCall, ctx: ToolContext) -> tuple[Tool, Any, Recheck | None] | ToolResult:
        assert ctx.registry is not None
        if call.tool == self.name:
            return ToolResult("batch cannot be nested; list the calls directly", is_error=True)
        tool = ctx.registry.get(call.tool)
        if tool is None:
            known = ", ".join(n for n in ctx.registry.names() if n != self.name)
            return ToolResult(f"unknown tool {call.tool!r}; available: {known}", is_error=True)
        recheck: Recheck | None = None
        try:
            parsed = tool.parse(call.arguments)
            if not tool.read_only:
                if ctx.authorize is None:
                    return ToolResult(
                        f"{tool.name} changes things, and batch may only run read-only tools "
                        "in this session; call it directly instead",
                        is_error=True,
                    )
                recheck = await ctx.authorize(tool, parsed)
        except CodetetherError as exc:
            return ToolResult(exc.message, is_error=True, metadata=_error_meta(exc))
        return tool, parsed, recheck


async def _run_one(tool: Tool, parsed: Any, ctx: ToolContext) -> ToolResult:
    try:
        return await tool.run(parsed, ctx)
    except CodetetherError as exc:
        return ToolResult(exc.message, is_error=True, metadata=_error_meta(exc))
    except Exception as exc:  # one broken call must not take the others down
        return ToolResult(f"{tool.name} crashed: {type(exc).__name__}: {exc}", is_error=True)


def _error_meta(exc: CodetetherError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "code": exc.codes.jsonrpc}


def _render(args: BatchParams, results: list[ToolResult]) -> ToolResult:
    parts: list[str] = []
    meta_results: list[dict[str, Any]] = []
    for index, (call, result) in enumerate(zip(args.calls, results, strict=True), start=1):
        status = "error" if result.is_error else "ok"
        parts.append(f"### [{index}] {call.tool} ({status})\n{result.output}")
        meta_results.append({"tool": call.tool, "is_error": result.is_error, "metadata": result.metadata})
    text, _ = cap_text("\n\n".join(parts), MAX_OUTPUT_CHARS, "batch output")
    failed = sum(1 for r in results if r.is_error)
    files = [p for r in results for p in r.metadata.get("files_affected", [])]
    meta: dict[str, Any] = {"results": meta_results, "failed": failed}
    if files:
        meta["files_affected"] = list(dict.fromkeys(files))
    changes = [c for r in results for c in r.metadata.get("changes", []) or []]
    if changes:
        meta["changes"] = changes
    return ToolResult(text, is_error=failed == len(results), metadata=meta)
