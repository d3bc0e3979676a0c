#!/usr/bin/env python3
"""An agent that writes its environment and working directory, as JSON, to argv[1]."""

import json
import os
import sys

with open(sys.argv[1], "w") as out:
    json.dump({"env": dict(os.environ), "cwd": os.getcwd()}, out)
print(json.dumps({"cost_usd": 0.01}))
