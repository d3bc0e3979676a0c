#!/usr/bin/env python3
"""An agent that follows a script, one step per invocation, for loop tests.

argv[1] is a JSON file: a list of steps, each ``{"files": {path: content or null},
"cost": float, "say": str}``.  The invocation count is kept next to it, so the
n-th call of a loop performs the n-th step.  ``say`` is printed, so a step can
answer ``ESCALATE: <reason>``.  The prompt is read from stdin and saved beside the
script (``prompt-<n>.txt``) so tests can inspect what the agent was told.  A
``block`` step writes its pid to ``blocked-<n>.pid`` beside the script and then
never returns: the test kills the app (or the agent) while it waits.
"""

import json
import os
import sys
import time
from pathlib import Path

plan_path = Path(sys.argv[1])
counter = plan_path.with_suffix(".count")
n = int(counter.read_text()) if counter.exists() else 0
counter.write_text(str(n + 1))
plan = json.loads(plan_path.read_text())
step = plan[min(n, len(plan) - 1)]
plan_path.with_name(f"prompt-{n + 1}.txt").write_text(sys.stdin.read())
for path, content in step.get("files", {}).items():
    target = Path(path)
    if content is None:
        target.unlink()
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
if step.get("block"):
    plan_path.with_name(f"blocked-{n + 1}.pid").write_text(str(os.getpid()))
    while True:
        time.sleep(60)
if step.get("say"):
    print(step["say"])
report = {"type": "result", "total_cost_usd": step.get("cost", 0.0)}
if step.get("summary"):
    report["result"] = step["summary"]  # Claude Code's final message
print(json.dumps(report))
