#!/usr/bin/env python3
"""An agent that never finishes: starts a child that also waits forever, writes the
child's pid to argv[1], then blocks.  A timeout must kill both."""

import subprocess
import sys
from pathlib import Path

child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(3600)"])
Path(sys.argv[1]).write_text(str(child.pid))
child.wait()
