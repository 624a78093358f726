"""`twinmem view` in a real browser: headless Chromium loads every page from file:// with no console
message, sees both code columns, every figure and the MathML equation, and draws a non-blank page.

Chromium's own ``--dump-dom`` / ``--screenshot`` drive it (no webdriver); ``--enable-logging=stderr``
prints each console message as an ``INFO:CONSOLE`` line. The pages hold no script, so any console
message at all is a failure. Without Chromium (``.ci/run`` installs Debian's ``chromium``) the tests
are skipped, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_view import fake_records

from twinmem.view import build_site

SMALL = ["scaled_dot_product_attention", "multi_head_attention"]
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    found = os.environ.get("TWINMEM_CHROMIUM") or next(filter(None, map(shutil.which, _NAMES)), None)
    if not found:
        pytest.skip(f"no Chromium found (looked for {', '.join(_NAMES)}; `apt-get install chromium`, as .ci/run does)")
    return found


def _chromium(tmp_path: Path, url: str, *flags: str) -> tuple[str, list[str]]:
    """(stdout, console messages) of one headless Chromium run on ``url``."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *flags, url]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


class _Dom(HTMLParser):
    """The parts of a rendered page the checks look at."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.quantities: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        for c in (a.get("class") or "").split():
            self.classes[c] = self.classes.get(c, 0) + 1
        if a.get("data-q"):
            self.quantities.add(a["data-q"] or "")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("view") / "site"
    build_site(out, SMALL, [r for m in SMALL for r in fake_records(m)])
    return out


def test_a_console_error_is_seen(tmp_path):
    # The check below is only as good as its detection: a page that logs an error must be caught.
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("view-test-error")</script></body></html>')
    _, console = _chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("view-test-error" in line for line in console)


@pytest.mark.parametrize("page", ["index", *SMALL])
def test_every_page_loads_with_no_console_message_and_shows_everything(site, tmp_path, page):
    dom_text, console = _chromium(tmp_path, (site / f"{page}.html").as_uri(), "--dump-dom")
    assert console == []
    dom = _Dom()
    dom.feed(dom_text)
    if page == "index":
        assert dom.tags.get("a", 0) >= len(SMALL)
        return
    assert dom.tags.get("math", 0) >= 1  # the equation, as MathML
    assert dom.classes.get("tf", 0) > 20 and dom.classes.get("torch", 0) > 20  # both code columns
    assert dom.quantities == {r.quantity for r in fake_records(page)}  # every figure, on a line
    assert "unplaced" not in dom.classes


def test_a_screenshot_is_not_blank(site, tmp_path):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, (site / "multi_head_attention.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,800")
    pixels = np.asarray(matplotlib.image.imread(shot))[..., :3]
    assert pixels.shape[:2] == (800, 1280)
    ink = np.mean(np.any(pixels < 0.9, axis=-1))  # share of pixels that are not (near) white
    assert ink > 0.02 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
