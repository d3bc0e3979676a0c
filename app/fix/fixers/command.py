"""The ``command`` fixer: any agent CLI, prompt on stdin, run inside the workspace.

Works with ``claude -p --output-format json``, ``codex exec``, ``aider --message``
or the original bot's ``bot agent --model {model} --non-interactive``.  The command
is split with ``shlex`` and ``{model}`` substituted in the arguments; no shell is
involved, and the prompt travels on stdin so it never shows in a process list.

The agent runs in the sandbox (``app.fix.sandbox``) with the allow-listed
environment plus only the model credentials the operator passes in ``extra_env``,
reaching nothing on the network but the model endpoints, and everything it
started is gone when it ends or times out.  What it spent is read from its
JSON output when it reports it (Claude Code prints ``total_cost_usd``); an agent
that reports nothing is charged the operator's ``UNREPORTED_COST_USD`` (by
default $0.50, never $0), so the budget cannot be bypassed by silence.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from app.core.errors import SandboxUnavailable
from app.fix.fixers.base import TRANSCRIPT_TAIL, FixRequest, FixResult
from app.fix.sandbox import Network, Sandbox, tail_text
from app.settings import DEFAULT_UNREPORTED_COST_USD

STDOUT_KEPT = 1024 * 1024  # enough for a JSON result object; the rest is transcript
ESCALATE = re.compile(r"^\W*ESCALATE:\s*(?P<reason>\S.*?)\s*$", re.MULTILINE)
COST_KEYS = ("total_cost_usd", "cost_usd")
SUMMARY_KEPT = 4000


class CommandFixer:
    """Runs an agent CLI in the workspace and reports its cost and any escalation."""

    name = "command"

    def __init__(
        self,
        command: str,
        timeout_s: float,
        extra_env: Mapping[str, str] | None = None,
        *,
        sandbox: Sandbox,
        unreported_cost_usd: float = DEFAULT_UNREPORTED_COST_USD,
    ) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("the command fixer needs a command, e.g. `claude -p --model {model}`")
        self.timeout_s = timeout_s
        self.extra_env = dict(extra_env or {})
        self.unreported_cost_usd = unreported_cost_usd
        self.sandbox = sandbox

    async def fix(self, request: FixRequest) -> FixResult:
        argv = [arg.replace("{model}", request.model) for arg in self.argv]
        timeout = min(self.timeout_s, request.timeout_s)
        try:
            outcome = await self.sandbox.run(
                argv,
                workspace=request.workspace,
                network=Network.MODEL,
                extra_env=self.extra_env,
                timeout_s=timeout,
                stdin=request.prompt.encode(),
                output_limit=STDOUT_KEPT,
            )
        except (FileNotFoundError, PermissionError) as exc:
            return FixResult(
                error=f"the fixer command {argv[0]!r} could not be started ({exc}); "
                "install it (visible in the sandbox: SANDBOX_READONLY_PATHS) or correct "
                "`fixer.command`"
            )
        except SandboxUnavailable as exc:
            return FixResult(error=f"the sandbox is unavailable: {exc}")
        stdout = outcome.stdout.decode("utf-8", errors="replace")
        stderr = tail_text(outcome.stderr)
        report = _last_json_object(stdout)
        cost = _reported_cost(report)
        transcript = (stdout[-TRANSCRIPT_TAIL:] + ("\n" + stderr if stderr else ""))[
            -TRANSCRIPT_TAIL:
        ]
        if cost is None:
            cost = self.unreported_cost_usd
            transcript = "[ci-fix-loop] the agent reported no cost\n" + transcript
        if outcome.timed_out:
            error: str | None = f"the agent timed out after {timeout:g}s and was killed"
        elif outcome.exit_code != 0:
            last = stderr.strip().splitlines()[-1:] or ["no error output"]
            error = f"the agent exited with code {outcome.exit_code}: {last[0]}"
        else:
            error = None
        return FixResult(
            cost_usd=cost,
            tokens=_reported_tokens(report),
            transcript_tail=transcript,
            escalate_reason=_escalation(stdout, report, stderr),
            error=error,
            summary=_summary(report),
        )


def _last_json_object(stdout: str) -> dict[str, Any] | None:
    """The whole output as one JSON object, else the last line that is one."""
    candidates = [stdout, *reversed(stdout.strip().splitlines())]
    for text in candidates:
        text = text.strip()
        if not text.startswith("{"):
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _summary(report: dict[str, Any] | None) -> str | None:
    """The agent's final message (Claude Code's ``result``), its own account of the change."""
    if report is None:
        return None
    for key in ("result", "summary"):
        value = report.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[-SUMMARY_KEPT:]
    return None


def _reported_cost(report: dict[str, Any] | None) -> float | None:
    if report is None:
        return None
    usage = report.get("usage")
    for source in (report, usage if isinstance(usage, dict) else {}):
        for key in COST_KEYS:
            value = source.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value)
    return None


def _reported_tokens(report: dict[str, Any] | None) -> int | None:
    """Total tokens: ``total_tokens`` if given, else the sum of the ``*_tokens`` counts."""
    if report is None:
        return None
    usage = report.get("usage")
    source = usage if isinstance(usage, dict) else report
    if isinstance(source.get("total_tokens"), int):
        return int(source["total_tokens"])
    counts = [
        v for k, v in source.items() if k.endswith("_tokens") and isinstance(v, int) and v >= 0
    ]
    return sum(counts) if counts else None


def _escalation(stdout: str, report: dict[str, Any] | None, stderr: str) -> str | None:
    """The reason of the last ``ESCALATE: <reason>`` line, in the agent's result or output."""
    texts = [stdout, stderr]
    if report and isinstance(report.get("result"), str):
        texts.insert(0, report["result"])
    for text in texts:
        found = (m["reason"].rstrip("\"'},") for m in ESCALATE.finditer(text))
        reasons = [reason for reason in found if reason and reason != "<reason>"]
        if reasons:
            return reasons[-1]
    return None
