#!/usr/bin/env python
"""Browser check of the course pages, without Quarto.

Renders each processed notebook (`_proc/*.ipynb`, from .ci/proc_docs.py) to HTML with nbconvert, serves the pages on
localhost, opens each in headless Chromium (Debian's `chromium` + `chromium-driver`, through Selenium) and fails if a page
has a JavaScript error from the page itself, a broken image, no title, or fewer images than its notebook has image
outputs. A full-page screenshot of each page is saved (default `_screenshots/`) for review. Requests to other hosts (the
MathJax/require.js CDN) fail offline and are not judged.

    python .ci/browser_check.py [--proc _proc] [--shots _screenshots]
"""
import argparse, functools, http.server, json, os, shutil, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import urlparse

# nbconvert's templates live in <prefix>/share/jupyter; a venv made with --system-site-packages only searches its own prefix
os.environ["JUPYTER_PATH"] = os.pathsep.join([p for p in [os.environ.get("JUPYTER_PATH")] if p] +
                                             [str(Path(p)/"share"/"jupyter") for p in dict.fromkeys((sys.prefix, sys.base_prefix))])
import nbformat
from nbconvert import HTMLExporter

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")

def image_outputs(nb) -> int:
    "How many image outputs (PNG/JPEG/GIF) the notebook's code cells hold."
    return sum(any(t in o.get("data", {}) for t in IMAGE_TYPES)
               for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

def title_block(nb):
    "Quarto shows the front matter (`title`, `description`) that nbdev's processing made of '# Title' + '> summary' as the page heading; do the same."
    import yaml
    c = nb.cells[0] if nb.cells else None
    if c is None or c.cell_type != "raw" or not c.source.startswith("---"): return nb
    meta = yaml.safe_load(c.source.strip().strip("-")) or {}
    md = f"# {meta.get('title', '')}\n\n> {meta.get('description', '')}" if meta.get("title") else ""
    nb.cells[0] = nbformat.v4.new_markdown_cell(md)
    return nb

def render(proc:Path, site:Path) -> dict:
    "Each notebook of `proc` → `site/<name>.html`; returns {page: expected image count}."
    exporter = HTMLExporter(template_name="lab")
    expected = {}
    for p in sorted(proc.glob("*.ipynb")):
        if p.name.startswith("_"): continue
        nb = title_block(nbformat.read(p, as_version=4))
        body, _ = exporter.from_notebook_node(nb)
        (site/f"{p.stem}.html").write_text(body, encoding="utf-8")
        expected[f"{p.stem}.html"] = image_outputs(nb)
    return expected

def serve(site:Path):
    "A quiet HTTP server for `site` on a free localhost port, in a thread."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"

def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--hide-scrollbars"):
        opts.add_argument(a)
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chrome: opts.binary_location = chrome
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver")
    return webdriver.Chrome(options=opts, service=Service(driver_path) if driver_path else None)

def own_errors(logs, base:str) -> list:
    "SEVERE console entries that come from the page itself, not from a failed request to another host."
    out = []
    for e in logs:
        if e.get("level") != "SEVERE": continue
        msg = e.get("message", "")
        url = msg.split(" ", 1)[0]
        if urlparse(url).path.endswith("/favicon.ico"): continue                                # the browser asks on its own
        if url.startswith("http") and urlparse(url).netloc != urlparse(base).netloc: continue   # CDN etc.: offline here
        out.append(msg)
    return out

def check_page(d, base:str, page:str, expected:int, shots:Path) -> list:
    "Problems of one page (empty if none); saves its screenshot."
    d.get(f"{base}/{page}")
    t0 = time.time()
    while time.time() - t0 < 30:
        if d.execute_script("return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"): break
        time.sleep(0.2)
    problems = []
    n = d.execute_script("return document.images.length")
    broken = d.execute_script("return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => (i.getAttribute('src') || '').slice(0, 60))")
    title = d.execute_script("return (document.querySelector('h1') || {}).textContent || ''").strip()
    if broken: problems.append(f"{len(broken)} broken image(s): {broken[:3]}")
    if n < expected: problems.append(f"{n} image(s) on the page, but the notebook has {expected} image outputs")
    if not title: problems.append("no title (h1)")
    errs = own_errors(d.get_log("browser"), base)
    if errs: problems.append(f"JavaScript errors: {errs[:3]}")
    h = d.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    d.set_window_size(1280, min(int(h) + 40, 30000))
    d.save_screenshot(str(shots/page.replace(".html", ".png")))
    d.set_window_size(1280, 1000)
    print(f"{'ok  ' if not problems else 'FAIL'} {page}: '{title[:60]}', {n} image(s) (notebook: {expected}), height {h} px"
          + ("".join(f"\n     - {p}" for p in problems)))
    return problems

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--proc", type=Path, default=Path("_proc"), help="processed notebooks (default _proc)")
    ap.add_argument("--shots", type=Path, default=Path("_screenshots"), help="where to save the screenshots")
    a = ap.parse_args()
    if not any(a.proc.glob("*.ipynb")): sys.exit(f"browser check: no processed notebooks in {a.proc} (run .ci/proc_docs.py first)")
    a.shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as site:
        site = Path(site)
        expected = render(a.proc, site)
        httpd, base = serve(site)
        d = browser()
        try: failed = {p: pr for p in expected if (pr := check_page(d, base, p, expected[p], a.shots))}
        finally: d.quit(); httpd.shutdown()
    (a.shots/"report.json").write_text(json.dumps({"pages": len(expected), "failed": failed, "expected_images": expected}, indent=1))
    print(f"browser check: {len(expected) - len(failed)} of {len(expected)} pages fine; screenshots in {a.shots}/")
    if failed: sys.exit(1)

if __name__ == "__main__": main()
