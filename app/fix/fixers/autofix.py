"""The ``autofix`` fixer: the repository's own deterministic fixers, before any model.

Many lint and format failures are fixed by the tool that reported them
(``ruff check --fix .``, ``ruff format .``, ``prettier --write .``).  Running those
first costs nothing and often makes the model call unnecessary.  The commands come
from the repository's configuration, so they run like verify: ``/bin/sh -c`` in the
workspace inside the sandbox, without network unless the operator allows it.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.fix.fixers.base import TRANSCRIPT_TAIL, FixRequest, FixResult
from app.fix.sandbox import Network, Sandbox, tail_text


class AutofixFixer:
    """Runs each configured command in order; a nonzero exit is reported, not fatal.

    ``ruff check --fix`` exits 1 whenever unfixable problems remain, which is
    normal here: whatever it did fix still counts.  A timeout is an error, since the
    tool may have stopped halfway through rewriting files.
    """

    name = "autofix"

    def __init__(self, commands: Sequence[str], timeout_s: float, sandbox: Sandbox) -> None:
        if not commands:
            raise ValueError("autofix needs at least one command (the `autofix:` list)")
        self.commands = tuple(commands)
        self.timeout_s = timeout_s
        self.sandbox = sandbox

    async def fix(self, request: FixRequest) -> FixResult:
        timeout = min(self.timeout_s, request.timeout_s)
        transcript: list[str] = []
        error = None
        for command in self.commands:
            outcome = await self.sandbox.run(
                ["/bin/sh", "-c", command],
                workspace=request.workspace,
                network=Network.HOST,
                timeout_s=timeout,
                merge_stderr=True,
            )
            if outcome.timed_out:
                status = f"timed out after {timeout:g}s and was killed"
                error = f"autofix command `{command}` {status}"
            else:
                status = f"exit {outcome.exit_code}"
            transcript.append(f"$ {command}  ({status})\n{tail_text(outcome.stdout)}")
            if error:
                break
        return FixResult(
            cost_usd=0.0,
            transcript_tail="\n".join(transcript)[-TRANSCRIPT_TAIL:],
            error=error,
        )
