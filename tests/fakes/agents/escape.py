#!/usr/bin/env python3
"""A misbehaving agent: writes next to the workspace and edits the CI workflow.

The command fixer does not stop this (it cannot, short of a container); the diff
guard rejects the workflow edit afterwards.  Tests use it to show both.
"""

from pathlib import Path

Path("../escaped.txt").write_text("written outside the workspace\n")
workflow = Path(".github/workflows/ci.yml")
workflow.parent.mkdir(parents=True, exist_ok=True)
workflow.write_text("on: push\njobs: {}\n")
print("done")
