"""A scripted tool-use model on loopback, for the built-in agent, through the real SDKs.

Serves Anthropic Messages (``POST /v1/messages``) and OpenAI Chat Completions
(``POST /v1/chat/completions``), non-streaming, answering each request with the
next scripted step: a list of tool calls, or a final text.  Every request body
is recorded, so a test reads what the agent sent back (tool results, refusals)
and what it did not (secrets).  Requests without the expected key, model, tools
or token limit are answered 400 and listed in ``problems``.

Like the real Anthropic API, a request whose system prompt carries a
``cache_control`` mark is billed as a cache write the first time and a cache
read after that (``CACHED_PREFIX_TOKENS`` tokens), so the agent's cache
accounting can be checked.

Usage::

    async with ToolModel(api_key="sk-test") as model:
        model.script(
            [call("read_file", path="calc.py")],
            [call("finish", summary="fixed")],
        )
        ...
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.model import bearer, serve_model_api

CACHED_PREFIX_TOKENS = 1200


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


def call(tool: str, **args: Any) -> Call:
    """A scripted tool call: ``call("read_file", path="x.py")``."""
    return Call(tool, args)


@dataclass
class ToolModel:
    api_key: str
    input_tokens: int = 900
    output_tokens: int = 120
    requests: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _steps: deque[list[Call] | str] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _cached: bool = False
    _runner: web.AppRunner | None = None
    url: str = ""

    @property
    def anthropic_url(self) -> str:
        return self.url

    @property
    def openai_url(self) -> str:
        return self.url + "/v1"

    def script(self, *steps: list[Call] | str) -> None:
        """Queue replies: a list of tool calls, or a plain text (the model stops)."""
        self._steps.extend(steps)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def tool_results(self) -> list[str]:
        """Every tool result the agent sent back, in order, as text (both APIs)."""
        if not self.requests:
            return []
        found: list[str] = []
        for message in self.requests[-1]["messages"]:
            if message.get("role") == "tool":
                found.append(str(message["content"]))
            elif isinstance(message.get("content"), list):
                found += [
                    str(block.get("content"))
                    for block in message["content"]
                    if isinstance(block, dict) and block.get("type") == "tool_result"
                ]
        return found

    async def __aenter__(self) -> ToolModel:
        self._runner, self.url = await serve_model_api(self._messages, self._chat)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self) -> list[Call] | str:
        if not self._steps:
            return "(the script has no more steps)"
        return self._steps.popleft()

    def _check(self, body: dict[str, Any], key: str | None, limit_key: str) -> str | None:
        if key != self.api_key:
            return "wrong or missing API key"
        if not body.get("model") or not body.get("messages") or not body.get("tools"):
            return "model, messages and tools are required"
        if not isinstance(body.get(limit_key), int):
            return f"{limit_key} is required"
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("x-api-key") or bearer(request.headers.get("Authorization"))
        problem = self._check(body, key, "max_tokens")
        if problem:
            self.problems.append(problem)
            return web.json_response({"type": "error", "error": {"message": problem}}, status=400)
        self.requests.append(body)
        step = self._next()
        if isinstance(step, str):
            content: list[dict[str, Any]] = [{"type": "text", "text": step}]
            stop = "end_turn"
        else:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(self._ids)}",
                    "name": c.name,
                    "input": c.args,
                }
                for c in step
            ]
            stop = "tool_use"
        marked = any(
            isinstance(block, dict) and "cache_control" in block for block in body.get("system", [])
        )
        write = CACHED_PREFIX_TOKENS if marked and not self._cached else 0
        read = CACHED_PREFIX_TOKENS if marked and self._cached else 0
        self._cached = self._cached or marked
        return web.json_response(
            {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": self.input_tokens,
                    "output_tokens": self.output_tokens,
                    "cache_creation_input_tokens": write,
                    "cache_read_input_tokens": read,
                },
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        problem = self._check(body, key, "max_completion_tokens")
        if problem:
            self.problems.append(problem)
            return web.json_response({"error": {"message": problem}}, status=400)
        self.requests.append(body)
        step = self._next()
        if isinstance(step, str):
            message: dict[str, Any] = {"role": "assistant", "content": step}
            finish = "stop"
        else:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{next(self._ids)}",
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.args)},
                    }
                    for c in step
                ],
            }
            finish = "tool_calls"
        cached = CACHED_PREFIX_TOKENS if len(self.requests) > 1 else 0
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": self.input_tokens + cached,
                    "completion_tokens": self.output_tokens,
                    "total_tokens": self.input_tokens + cached + self.output_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            }
        )
