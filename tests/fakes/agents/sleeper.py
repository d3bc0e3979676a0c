#!/usr/bin/env python3
"""An agent that never finishes: starts a child that also waits forever, writes a
line to argv[1], then blocks.  A timeout must kill both; both carry argv[1] in
their command line so a test can look for them afterwards."""

import subprocess
import sys
from pathlib import Path

forever = "import time\nwhile True: time.sleep(3600)"
child = subprocess.Popen([sys.executable, "-c", forever, sys.argv[1]])
Path(sys.argv[1]).write_text(str(child.pid))
child.wait()
