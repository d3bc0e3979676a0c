#!/usr/bin/env python3
"""A misbehaving agent: writes next to the workspace and edits the CI workflow.

In the jail the write outside lands in a private tmpfs that vanishes with the
run; the workflow edit is inside the workspace, and the diff guard rejects it.
"""

from pathlib import Path

try:
    Path("../escaped.txt").write_text("written outside the workspace\n")
except OSError as exc:
    print(f"could not write outside: {exc}")
workflow = Path(".github/workflows/ci.yml")
workflow.parent.mkdir(parents=True, exist_ok=True)
workflow.write_text("on: push\njobs: {}\n")
print("done")
