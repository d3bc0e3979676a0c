"""A fake model API on loopback, driven by the real ``anthropic`` and ``openai`` SDKs.

Serves ``POST /v1/messages`` (Anthropic Messages) and ``POST /v1/chat/completions``
(OpenAI Chat Completions).  Each request is checked for the shape the SDKs send (the
API key header, ``x-api-key`` or a bearer token; a model; messages; a token limit);
anything off is recorded in ``problems`` and answered 400, which the SDKs do not
retry.  Replies come from a queue scripted by the test; every request body is
recorded so a test can assert what reached the model (and what did not: secrets).

Streaming (``"stream": true``, as agent CLIs such as Claude Code send) is answered
with the Messages API's server-sent events; a scripted turn may then be a tool call
(``fake.tool_use("Read", {"file_path": "{cwd}/calc.py"})``), where ``{cwd}`` is the
agent's working directory as its own request states it ("Primary working
directory: ...").  Requests the agent makes on the side (no ``tools``, e.g. a title)
get a short text and consume nothing from the script.

Usage::

    async with FakeModel(api_key="sk-test") as fake:
        fake.reply('{"edits": []}', input_tokens=1000, output_tokens=50)
        fixer = ApiFixer("anthropic", "sk-test", base_url=fake.anthropic_url)
        ...
        assert fake.problems == []
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler


@dataclass(frozen=True)
class Scripted:
    text: str
    input_tokens: int
    output_tokens: int
    stop: str | None = None  # None: a normal end; "max_tokens": cut off


@dataclass(frozen=True)
class ToolCall:
    """A scripted ``tool_use`` turn; string values may hold ``{cwd}``."""

    name: str
    input: dict[str, Any]
    input_tokens: int = 100
    output_tokens: int = 20


WORKING_DIRECTORY = re.compile(r"Primary working directory: ([^\s\\\"]+)")


@dataclass
class Recorded:
    api: str  # "anthropic" or "openai"
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything the model was shown: system prompt and messages."""
        parts = [str(self.body.get("system", ""))]
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                parts.extend(str(block.get("text", "")) for block in content)
            else:
                parts.append(str(content))
        return "\n".join(parts)


@dataclass
class FakeModel:
    api_key: str
    replies: deque[Scripted | ToolCall] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def anthropic_url(self) -> str:
        return self.base_url

    @property
    def openai_url(self) -> str:
        return self.base_url + "/v1"

    def reply(
        self,
        text: str,
        *,
        input_tokens: int = 100,
        output_tokens: int = 20,
        stop: str | None = None,
    ) -> None:
        self.replies.append(Scripted(text, input_tokens, output_tokens, stop))

    def tool_use(self, name: str, tool_input: dict[str, Any]) -> None:
        """Script a streamed turn that calls ``name`` (the agent runs it and asks again)."""
        self.replies.append(ToolCall(name, tool_input))

    async def __aenter__(self) -> FakeModel:
        self._runner, self.base_url = await serve_model_api(self._messages, self._chat)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    # -- handlers --------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        problems = self._check(
            body,
            # The SDK sends the key as x-api-key (older) or as a bearer token (2.x).
            key_ok=self.api_key
            in (request.headers.get("x-api-key"), bearer(request.headers.get("Authorization"))),
            limit_ok=isinstance(body.get("max_tokens"), int),
            extra_ok=bool(request.headers.get("anthropic-version")),
        )
        self.requests.append(Recorded("anthropic", dict(request.headers), body))
        if body.get("stream") and not body.get("tools"):
            self.problems[:] = [p for p in self.problems if p != "no scripted reply left"]
            return await _stream(request, body, Scripted("ok", 10, 2), "")
        if problems:
            return _error(problems)
        scripted = self.replies.popleft()
        if body.get("stream"):
            found = WORKING_DIRECTORY.search(json.dumps(body))
            return await _stream(request, body, scripted, found.group(1) if found else "")
        if isinstance(scripted, ToolCall):
            self.problems.append("a tool call scripted for a request that does not stream")
            return _error("a tool call needs a streaming request")
        return web.json_response(
            {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": scripted.text}],
                "stop_reason": scripted.stop or "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": scripted.input_tokens,
                    "output_tokens": scripted.output_tokens,
                },
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        problems = self._check(
            body,
            key_ok=bearer(request.headers.get("Authorization")) == self.api_key,
            limit_ok=isinstance(body.get("max_completion_tokens", body.get("max_tokens")), int),
            extra_ok=True,
        )
        self.requests.append(Recorded("openai", dict(request.headers), body))
        if problems:
            return _error(problems)
        scripted = self.replies.popleft()
        if isinstance(scripted, ToolCall):
            self.problems.append("a tool call scripted for the OpenAI API")
            return _error("tool calls are scripted for the Anthropic API only")
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": scripted.text},
                        "finish_reason": "length" if scripted.stop else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": scripted.input_tokens,
                    "completion_tokens": scripted.output_tokens,
                    "total_tokens": scripted.input_tokens + scripted.output_tokens,
                },
            }
        )

    def _check(self, body: dict[str, Any], *, key_ok: bool, limit_ok: bool, extra_ok: bool) -> str:
        found = []
        if not key_ok:
            found.append("wrong or missing API key header")
        if not isinstance(body.get("model"), str) or not body["model"]:
            found.append("no model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            found.append("no messages")
        elif not all(isinstance(m, dict) and m.get("role") and "content" in m for m in messages):
            found.append("a message without role or content")
        if not limit_ok:
            found.append("no output token limit")
        if not extra_ok:
            found.append("no anthropic-version header")
        if not self.replies:
            found.append("no scripted reply left")
        self.problems.extend(found)
        return "; ".join(found)


async def _stream(
    request: web.Request, body: dict[str, Any], turn: Scripted | ToolCall, cwd: str
) -> web.StreamResponse:
    """One assistant turn as the Messages API streams it (server-sent events)."""
    if isinstance(turn, ToolCall):
        block: dict[str, Any] = {
            "type": "tool_use",
            "id": f"toolu_{id(turn):x}",
            "name": turn.name,
            "input": {},
        }
        arguments = json.loads(json.dumps(turn.input).replace("{cwd}", cwd))
        delta = {"type": "input_json_delta", "partial_json": json.dumps(arguments)}
        stop = "tool_use"
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": turn.text}
        stop = turn.stop or "end_turn"
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    message = {
        "id": f"msg_{id(turn):x}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": turn.input_tokens, "output_tokens": 1},
    }
    events = [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": turn.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    for event, data in events:
        await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
    await response.write_eof()
    return response


def bearer(header: str | None) -> str | None:
    return header[len("Bearer ") :] if header and header.startswith("Bearer ") else None


def _error(message: str) -> web.Response:
    return web.json_response(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}},
        status=400,
    )


async def serve_model_api(messages: Handler, chat: Handler) -> tuple[web.AppRunner, str]:
    """Serve the two model APIs' routes on a free loopback port: (runner, base URL)."""
    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"
