#!/usr/bin/env python3
"""A tiny agent: reads the prompt on stdin, fixes calc.py's known bug, reports a cost.

It echoes its argv and the prompt's first line in its JSON report so a test can
check that ``{model}`` was substituted and the prompt arrived on stdin.
"""

import json
import sys
from pathlib import Path

prompt = sys.stdin.read()
calc = Path("calc.py")
calc.write_text(calc.read_text().replace("return a - b", "return a + b"))
print("working on it...")
report = {
    "type": "result",
    "result": "Fixed the addition in calc.py.",
    "total_cost_usd": 0.12,
    "usage": {"input_tokens": 1000, "output_tokens": 200},
    "argv": sys.argv[1:],
    "prompt_first_line": prompt.splitlines()[0] if prompt else "",
}
print(json.dumps(report))
