"""``artreg ui`` in a real headless browser: Debian's chromium, driven by Selenium through chromedriver.

Not skipped when the browser is missing: ``.ci/run`` and the README's test command install
``chromium`` and ``chromium-driver``, and a missing one fails here with that advice.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from uiserver import HOSTILE, Server, build, serving

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,1100")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("browser") / "reg"
    build(path)
    with serving(path, "admin") as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for program in (CHROMIUM, CHROMEDRIVER):
        assert os.access(program, os.X_OK), f"{program} is missing: apt-get install -y chromium chromium-driver"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser: WebDriver, server: Server, path: str) -> None:
    browser.get(server.url.rstrip("/") + path)
    with pytest.raises(NoAlertPresentException):  # no script ran, hostile or otherwise
        browser.switch_to.alert.text  # noqa: B018
    assert browser.execute_script("return document.scripts.length") == 0
    # Nothing but the page itself was fetched: no fonts, stylesheets, scripts or images.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0


def follow(browser: WebDriver, by: str, what: str) -> None:
    """Click a link and wait until the next page has replaced this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, what).click()
    WebDriverWait(browser, 20).until(expected_conditions.staleness_of(page))


def not_blank(png: bytes, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(png)  # kept with the test's files, to look at when it fails
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1000 and image.height >= 600
    colors = image.getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 50, "a page of text and a drawing has many colours"
    white = max(count for count, _ in colors)
    assert white / (image.width * image.height) < 0.97, "the screenshot is almost all one colour"


def test_a_version_page_renders_with_its_lineage_drawing(browser: WebDriver, server: Server, tmp_path: Path) -> None:
    open_page(browser, server, "/versions/zoo/zoo_dataset:v1")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("zoo/zoo_dataset:v1")
    svg = browser.find_element(By.CSS_SELECTOR, "#lineage svg")
    assert svg.is_displayed() and svg.size["width"] > 300 and svg.size["height"] > 40
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#lineage svg g.node text")]
    assert "zoo/zoo_dataset:v1" in labels and "zoo/train-zoo" in labels
    assert browser.find_element(By.CSS_SELECTOR, "#lineage svg g.node.root").get_attribute("data-id") is not None
    folders = browser.find_elements(By.CSS_SELECTOR, "#files details.dir")
    assert [f.find_element(By.TAG_NAME, "summary").text.split("/")[0] for f in folders] == ["images"]
    assert browser.find_element(By.CSS_SELECTOR, "#files details.dir ul.files li").is_displayed()  # open: a small tree
    not_blank(browser.get_screenshot_as_png(), tmp_path, "version.png")


def test_hostile_strings_are_text_not_markup(browser: WebDriver, server: Server) -> None:
    open_page(browser, server, "/versions/zoo/zoo_dataset:v0")
    assert browser.find_element(By.ID, "description").text == f"animals {HOSTILE}"
    assert HOSTILE in browser.find_element(By.ID, "metadata").text
    open_page(browser, server, "/lineage/zoo/zoo_dataset:v0")
    titles = browser.execute_script("return [...document.querySelectorAll('#lineage svg g.node title')].map(t => t.textContent)")
    assert any(t.startswith(f"zoo/prep {HOSTILE}") for t in titles)


def test_clicking_through_registries_collections_versions_and_lineage(browser: WebDriver, server: Server) -> None:
    open_page(browser, server, "/")
    follow(browser, By.LINK_TEXT, "model")
    follow(browser, By.LINK_TEXT, "Zoo")
    assert "production" in browser.find_element(By.ID, "versions").text
    follow(browser, By.LINK_TEXT, "v0")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("wandb-registry-model/Zoo:v0")
    assert "model.json" in browser.find_element(By.ID, "files").text
    open_page(browser, server, "/versions/zoo/zoo_model:v0")
    follow(browser, By.CSS_SELECTOR, "#lineage svg a[href='/versions/zoo/zoo_dataset:v1']")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("zoo/zoo_dataset:v1")


def test_compare_shows_only_the_differences(browser: WebDriver, server: Server, tmp_path: Path) -> None:
    open_page(browser, server, "/compare?a=zoo/zoo_dataset:v0&b=zoo/zoo_dataset:v1")
    rows = {r.get_attribute("class"): r.text for r in browser.find_elements(By.CSS_SELECTOR, "#file-diff tbody tr")}
    assert list(rows) == ["changed"] and rows["changed"].startswith("zoo.csv")
    assert "2 unchanged" in browser.find_element(By.ID, "file-summary").text
    metadata = browser.find_element(By.ID, "metadata-diff").text
    assert "config.lr 0.1 0.2" in metadata and HOSTILE in metadata
    not_blank(browser.get_screenshot_as_png(), tmp_path, "compare.png")


def test_search_from_the_header(browser: WebDriver, server: Server) -> None:
    open_page(browser, server, "/")
    box = browser.find_element(By.CSS_SELECTOR, "header input[name=q]")
    box.send_keys("production")
    box.submit()
    hits = WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "hits")))
    assert "wandb-registry-model/Zoo:v0" in hits.text


def test_an_unknown_ref_is_a_404_page(browser: WebDriver, server: Server) -> None:
    open_page(browser, server, "/versions/zoo/zoo_dataset:v7")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Not found")
    assert "has no version 'v7'" in browser.find_element(By.ID, "error-message").text
