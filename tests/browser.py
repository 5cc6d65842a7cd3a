"""Open an HTML file in headless Chromium: console errors, figure/image loading, and a screenshot.

Chromium comes from Debian's ``chromium`` package, which ``make test`` installs (see the Makefile).  The page is
checked on a copy with a probe script injected first in <head>: it records ``window.onerror``, unhandled
rejections and ``console.error`` calls, and after load whether every <img> decoded and every inline <svg> figure
has a non-empty box, and writes the verdict into the DOM, which ``--dump-dom`` prints.  Console messages that
Chromium itself logs (``--enable-logging=stderr``) are collected as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROBE = """<script>
(function(){
  var errs = [];
  window.addEventListener('error', function(e){ errs.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'resource')); }, true);
  window.addEventListener('unhandledrejection', function(e){ errs.push('rejection: ' + e.reason); });
  var ce = console.error; console.error = function(){ errs.push('console.error: ' + Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); };
  window.addEventListener('load', function(){
    var imgs = Array.prototype.slice.call(document.images);
    var badImg = imgs.filter(function(i){ return !(i.complete && i.naturalWidth > 0); }).map(function(i){ return i.src.slice(0, 80); });
    var svgs = Array.prototype.slice.call(document.querySelectorAll('figure svg'));
    var badSvg = svgs.filter(function(s){ var r = s.getBoundingClientRect(); return !(r.width > 10 && r.height > 10); }).length;
    var out = {errors: errs, images: imgs.length, bad_images: badImg, figures: svgs.length, bad_figures: badSvg,
               text_length: document.body.innerText.length, sections: document.querySelectorAll('section').length};
    var pre = document.createElement('pre'); pre.id = 'psychoml-probe'; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
</script>"""

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars",
]


@dataclass
class PageCheck:
    errors: list[str]
    console: list[str]
    images: int
    bad_images: list[str]
    figures: int
    bad_figures: int
    text_length: int
    sections: int
    screenshot: Path
    screenshot_std: float = field(default=0.0)


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        raise RuntimeError("chromium is not installed: `make test` installs Debian's chromium (apt-get install chromium)")
    return exe


def check_page(html_path: Path, screenshot: Path, *, timeout: float = 120) -> PageCheck:
    exe = chromium()
    text = html_path.read_text(encoding="utf-8")
    probed = text.replace("<head>", "<head>" + PROBE, 1)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(probed, encoding="utf-8")
        env = dict(os.environ, HOME=tmp)
        common = FLAGS + [f"--user-data-dir={tmp}/profile", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=5000"]
        dom = subprocess.run([exe, *common, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=timeout, env=env, check=False)
        shot = subprocess.run([exe, *common, f"--screenshot={screenshot}", "--window-size=1280,2000",
                               html_path.resolve().as_uri()], capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    m = re.search(r'<pre id="psychoml-probe">(.*?)</pre>', dom.stdout, re.DOTALL)
    if m is None:
        raise RuntimeError(f"the page never finished loading in chromium (rc={dom.returncode}): {dom.stderr[-2000:]}")
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    console = [ln for ln in (dom.stderr + shot.stderr).splitlines()
               if "CONSOLE" in ln and ("error" in ln.lower() or "uncaught" in ln.lower())]
    std = 0.0
    if screenshot.exists():
        import matplotlib.image as mpimg

        pixels = mpimg.imread(screenshot)
        std = float(np.asarray(pixels)[..., :3].std())
    return PageCheck(errors=probe["errors"], console=console, images=probe["images"], bad_images=probe["bad_images"],
                     figures=probe["figures"], bad_figures=probe["bad_figures"], text_length=probe["text_length"],
                     sections=probe["sections"], screenshot=screenshot, screenshot_std=std)
