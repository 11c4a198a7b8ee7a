"""Open the published asv dashboard in headless Chromium and check that it lists benchmarks.

    python bench/check_asv_html.py html [--screenshot html/screenshot.png]

The dashboard loads its data with JavaScript over HTTP, so the folder is served on a local port
(file:// would block the requests); Chromium renders the page, the DOM is dumped after the
scripts have run, and the benchmark names from the published index must appear in it.

asv's pages load jQuery, flot, bootstrap and friends from CDNs, which this machine cannot reach;
``--vendor`` (the default) fetches the same libraries from the npm registry (``npm pack``, cached
in .asv/vendor-cache), puts them in ``html/vendor/`` and points the pages at them, so the
dashboard also works offline.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=15000"]


#: CDN address in asv's pages → (npm package, file inside it)
CDN_ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js":
        ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),  # 1.0.1 is not on npm
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}


def vendor_assets(root: Path, cache: Path) -> int:
    """Fetch the CDN libraries from the npm registry and rewrite the pages to use local copies."""
    import tarfile

    cache.mkdir(parents=True, exist_ok=True)
    (root / "vendor").mkdir(exist_ok=True)
    local = {}
    for url, (package, member) in CDN_ASSETS.items():
        name, version = package.rsplit("@", 1)
        tgz = cache / f"{name}-{version}.tgz"
        if not tgz.is_file():
            subprocess.run(["npm", "pack", package, "--silent", "--pack-destination", str(cache)],
                           check=True, capture_output=True, timeout=180)
        target = root / "vendor" / f"{name}-{version}-{Path(member).name}"
        with tarfile.open(tgz) as tar:
            target.write_bytes(tar.extractfile(f"package/{member}").read())
        local[url] = f"vendor/{target.name}"
    changed = 0
    for page in root.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = text
        for url, path in local.items():
            new = new.replace(url, path)
        # the pages pin the CDN files' hashes (subresource integrity); npm's copies are other
        # builds of the same versions (npm checked their own integrity), so drop those pins
        new = re.sub(r'(<(?:script|link)\b[^>]*?(?:src|href)="vendor/[^"]*"[^>]*?)\s+integrity="[^"]*"',
                     r"\1", new)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("no chromium found (Debian: apt-get install chromium)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("html_dir")
    parser.add_argument("--screenshot")
    parser.add_argument("--no-vendor", action="store_true", help="keep the CDN addresses")
    args = parser.parse_args()
    root = Path(args.html_dir).resolve()
    if not args.no_vendor:
        pages = vendor_assets(root, root.parent / ".asv" / "vendor-cache")
        print(f"local copies of asv's CDN libraries in {root / 'vendor'} ({pages} pages rewritten)")
    index = json.loads((root / "index.json").read_text())
    names = sorted(index["benchmarks"])
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the output to the verdict
            pass

    handler = functools.partial(Quiet, directory=str(root))
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
