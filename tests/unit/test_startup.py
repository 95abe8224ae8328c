"""Start-up cost: a worker or CLI command must not pay for libraries only a few pages use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("sklearn", "scipy", "matplotlib", "pandas", "numpy", "krippendorff")

_PROBE = """
import json, re, sys, time
start = time.process_time()
from app import create_app
create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "probe"})
print(json.dumps({
    "cpu": time.process_time() - start,
    # Peak resident memory of this program (ru_maxrss would count the forking parent's too).
    "rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024,
    "heavy": sorted(m for m in %r if m in sys.modules),
}))
""" % (HEAVY,)


def _probe() -> dict:
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_create_app_imports_no_heavy_library():
    assert _probe()["heavy"] == []


def test_create_app_stays_within_the_start_up_budget():
    # The targets are 1.5 CPU-s and 120 MB on a quiet machine (about 0.75 s and 92 MB measured);
    # the CPU bound is doubled because the test machine is shared, so only a regression of the
    # size of the heavy imports (4-5 s, 250 MB) fails it.
    probe = _probe()
    assert probe["cpu"] < 3.0, probe
    assert probe["rss_mb"] < 120, probe
