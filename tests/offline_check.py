"""Run inside a network namespace with only loopback (``unshare --net``): start the real
server, open the page in Chromium, log in and wait for the picture.  Prints one JSON line.

Started by test_web_offline.py; by hand: ``unshare --net sh -c 'ip link set lo up &&
.venv/bin/python tests/offline_check.py /tmp/somewhere'``.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import Guard, launch, log_in, new_context, web_world
from serverproc import ServerProcess


def outside() -> str:
    """Try to reach an address off this machine (TEST-NET-1); say how it failed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        try:
            s.connect(("192.0.2.1", 80))
        except OSError as e:
            return errno.errorcode.get(e.errno or 0, str(e))
    return "connected"


def main(workdir: Path) -> dict[str, object]:
    interfaces = sorted(name for _index, name in socket.if_nameindex())  # this namespace's, unlike /sys
    db_url = f"sqlite:///{workdir / 'offline.db'}"
    web_world(db_url)
    with ServerProcess(db_url, workdir / "server.log") as server:
        server.start()
        guard = Guard(server.url)
        with launch() as (_p, browser):
            context = new_context(browser, guard)
            page = log_in(context.new_page(), server.url, "a_liaison")
            countries = page.evaluate(
                """() => Math.max(...window.__deconflictMap.getAllLayers()
                         .map((l) => l.getSource()?.getFeatures?.()?.length ?? 0))"""
            )
            context.close()
        guard.check()
    return {"interfaces": interfaces, "outside": outside(), "requests": len(guard.requests), "features": countries}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
