"""The page works with the network cut: server and browser in a network namespace that has
only loopback (``unshare --net``, as root, as CI runs), and no request leaves the origin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_picture_loads_with_only_loopback(tmp_path: Path) -> None:
    assert shutil.which("unshare") and shutil.which("ip"), "needs util-linux's unshare and iproute2's ip"
    assert os.geteuid() == 0 or shutil.which("sudo"), "a network namespace needs root"
    script = f"ip link set lo up && exec {sys.executable} {HERE / 'offline_check.py'} {tmp_path}"
    argv = ["unshare", "--net", "sh", "-c", script]
    if os.geteuid() != 0:
        argv = ["sudo", "-n", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["interfaces"] == ["lo"], result  # nothing but loopback in the namespace
    assert result["outside"] in ("ENETUNREACH", "EHOSTUNREACH"), result  # and really no way out
    assert result["requests"] >= 4, result  # page, script, style, basemap, API… all answered on loopback
    assert result["features"] > 200, result  # the basemap's countries are on the map
