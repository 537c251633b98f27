"""Named points where a fault-injection test holds a build still to kill it there (tests/e2e/test_fault_injection.py).

Only active when COMPTOIR_FAULT_PAUSE names the point: the build then says so on stderr and waits, so that the
test's SIGKILL lands exactly there (a publish of the sample takes a fraction of a second, too short to hit by
timing). Never set in normal use.
"""

from __future__ import annotations

import os
import sys
import time

FAULT_PAUSE_ENV = "COMPTOIR_FAULT_PAUSE"
REACHED = "comptoir fault point reached: "
PAUSE_SECONDS = 600.0


def pause_point(name: str) -> None:
    if os.environ.get(FAULT_PAUSE_ENV) != name:
        return
    sys.stderr.write(f"{REACHED}{name}\n")
    sys.stderr.flush()
    time.sleep(PAUSE_SECONDS)
