"""Open the published asv dashboard in headless Chromium and check that it lists benchmarks.

    python bench/check_asv_html.py html [--screenshot html/screenshot.png]

The dashboard loads its data with JavaScript over HTTP, so the folder is served on a local port
(file:// would block the requests); Chromium renders the page, the DOM is dumped after the
scripts have run, and the benchmark names from the published index must appear in it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no chromium found (Debian: apt-get install chromium)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html_dir")
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    root = Path(args.html_dir).resolve()
    index = json.loads((root / "index.json").read_text())
    names = sorted(index["benchmarks"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    try:
        with tempfile.TemporaryDirectory() as profile:
            base = [chromium(), *FLAGS, f"--user-data-dir={profile}"]
            dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True,
                                 timeout=120).stdout
            if args.screenshot:
                subprocess.run([*base, f"--screenshot={Path(args.screenshot).resolve()}",
                                "--window-size=1400,1000", url], capture_output=True, timeout=120)
    finally:
        server.shutdown()
    shown = [n for n in names if n in dom]
    print(f"{len(shown)}/{len(names)} benchmarks listed on {url}")
    if not names or len(shown) < len(names):
        print("missing: " + ", ".join(n for n in names if n not in dom))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
