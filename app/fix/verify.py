"""Run the repository's own check (``verify:`` in its config) on a fixed workspace.

A local verify catches a fix that obviously does not work before it costs a CI
run and a pull request.  The command is a shell string the repository wrote
(``ruff check . && pytest -x``), so it runs through ``/bin/sh -c`` inside the
sandbox (``app.fix.sandbox``): no network unless the operator allows it, nothing
of the app visible, and everything it started gone when it ends or times out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.fix.sandbox import OUTPUT_TAIL_BYTES, Network, Sandbox, tail_text


@dataclass(frozen=True)
class VerifyResult:
    """Whether the check passed; ``output_tail`` is the last 4 KB of its output."""

    ok: bool
    exit_code: int | None
    timed_out: bool
    output_tail: str


async def run_verify(
    command: str,
    workspace: Path,
    timeout_s: float,
    sandbox: Sandbox,
) -> VerifyResult:
    """Run ``command`` in ``workspace`` inside ``sandbox``."""
    outcome = await sandbox.run(
        ["/bin/sh", "-c", command],
        workspace=workspace,
        network=Network.HOST,
        timeout_s=timeout_s,
        output_limit=OUTPUT_TAIL_BYTES,
        merge_stderr=True,
    )
    output = tail_text(outcome.stdout)
    if outcome.timed_out:
        output += f"\n[ci-fix-loop] verify timed out after {timeout_s:g}s and was killed"
    return VerifyResult(
        ok=outcome.exit_code == 0,
        exit_code=outcome.exit_code,
        timed_out=outcome.timed_out,
        output_tail=output,
    )
