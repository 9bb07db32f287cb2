"""The built site in a real browser: Debian's headless Chromium driven by selenium.

Skipped unless /usr/bin/chromium and /usr/bin/chromedriver exist (CI: `apt-get install -y
chromium chromium-driver`). Builds from the repository's real lessons when there are any
(reusing their cache), else from the tiny test lesson; serves the site on a free 127.0.0.1 port
and checks the theme, a lesson's plot image, the maths, the search box, and that the browser
fetched nothing from another host. Deselect with `-m "not browser"`.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20

if os.environ.get("TINYDYN_REQUIRE_BROWSER") == "1" and not (
        CHROMIUM.exists() and CHROMEDRIVER.exists()):
    # CI sets this: there a missing browser must fail the run, not skip the test quietly.
    raise RuntimeError("TINYDYN_REQUIRE_BROWSER=1 but /usr/bin/chromium or /usr/bin/chromedriver "
                       "is missing: apt-get install chromium chromium-driver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="needs Debian's chromium and chromium-driver in /usr/bin"),
]
selenium = pytest.importorskip("selenium", reason="selenium missing: pip install -e '.[course]'")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tinydyn.course.commands import make_server  # noqa: E402
from tinydyn.course.pages import lesson_title  # noqa: E402


def _search_word(title: str) -> str:
    """A word of the lesson's title that search can match: the longest plain word."""
    words = re.findall(r"[A-Za-z]{5,}", title)
    return max(words, key=len) if words else title.split()[0]


@pytest.fixture(scope="module")
def site(request):
    """(base URL, lesson page URL, search word) of a served site."""
    from tinydyn.course.lessons import find_lessons, run_lessons
    from tinydyn.course.paths import CoursePaths
    from tinydyn.course.site import build_site

    if find_lessons(REPO / "lessons"):
        paths = CoursePaths(REPO)
        results = run_lessons(paths, log=lambda *a: None)
        folder = build_site(paths, [r.notebook for r in results], log=lambda *a: None)
        first = results[0].notebook
    else:
        paths, folder = request.getfixturevalue("tiny_site")
        first = paths.notebooks / "01_quokka.ipynb"
    server = make_server(folder, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, f"{base}/course/{first.stem}/", _search_word(lesson_title(first)), first
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path: Selenium Manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def _wait(driver):
    return WebDriverWait(driver, WAIT_SECONDS)


def _fetched_elsewhere(driver, base: str) -> list[str]:
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [u for u in urls if not (u.startswith(base + "/") or u.startswith("data:"))]


def test_home_page_renders_the_material_theme(site, browser):
    base, _, _, _ = site
    browser.get(base + "/")
    header = _wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR,
                                                                    ".md-header")))
    assert "tinydyn" in header.text
    assert browser.find_element(By.CSS_SELECTOR, ".md-content h1").text == "tinydyn"
    assert _fetched_elsewhere(browser, base) == []


def test_instructors_page_is_in_the_nav_and_shows_the_syllabus(site, browser):
    base, _, _, _ = site
    browser.get(base + "/")
    link = _wait(browser).until(EC.presence_of_element_located(
        (By.CSS_SELECTOR, '.md-nav a[href$="instructors/"]')))
    browser.get(link.get_attribute("href"))
    table = _wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR,
                                                                   ".md-content table")))
    assert "time to run" in table.text and "points" in table.text


def test_lesson_page_loads_its_plot_image(site, browser):
    base, lesson, _, _ = site
    browser.get(lesson)
    loaded = _wait(browser).until(lambda d: d.execute_script(
        "const imgs = [...document.querySelectorAll('.jupyter-wrapper img')]"
        "  .filter(i => i.src.startsWith('data:image/') || !i.src.startsWith('http'));"
        "return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0)"
        "  ? imgs.length : false"))
    assert loaded >= 1
    assert _fetched_elsewhere(browser, base) == []


def test_lesson_maths_is_typeset_by_the_local_mathjax(site, browser):
    base, lesson, _, notebook = site
    if "$" not in notebook.read_text(encoding="utf-8"):
        pytest.skip(f"{notebook.name} has no maths")
    browser.get(lesson)
    count = _wait(browser).until(lambda d: d.execute_script(
        "return document.querySelectorAll('.jp-MarkdownOutput mjx-container').length || false"))
    assert count >= 1
    assert _fetched_elsewhere(browser, base) == []


def test_search_finds_the_lesson_by_a_word_in_it(site, browser):
    base, lesson, word, notebook = site
    browser.get(base + "/")
    box = _wait(browser).until(EC.element_to_be_clickable((By.CSS_SELECTOR,
                                                           "input.md-search__input")))
    box.click()
    box.send_keys(word)
    target = f"course/{notebook.stem}/"
    hit = _wait(browser).until(lambda d: [
        a for a in d.find_elements(By.CSS_SELECTOR, ".md-search-result__item a")
        if target in (a.get_attribute("href") or "")] or False)
    assert hit
