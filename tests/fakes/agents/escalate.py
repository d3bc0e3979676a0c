#!/usr/bin/env python3
"""An agent that gives up, the way the prompt tells it to."""

import sys

sys.stdin.read()
print("I looked at the failure.")
print("ESCALATE: cannot fix")
