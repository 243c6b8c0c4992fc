"""`n2gkb site`: pages and index from the CLI and the API, and the real thing in a real
headless Chromium (Debian's chromium + chromedriver, driven by Selenium) from file://."""

from __future__ import annotations

import re
import shutil

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.kb.fixtures import FIXTURE_MODEL, OTHER_MODEL, write_fixture
from n2g_kb.n2g.results import Example
from n2g_kb.views.site import build_site

runner = CliRunner()


@pytest.fixture
def site_kb(store):
    results = write_fixture(store)
    neuron = next(r for r in results if r.key == (FIXTURE_MODEL, 1, 5))
    neuron.examples = [
        Example(["old", "<|endoftext|>", "I", " went", " to", " big", " Paris"], [0.8, 0.0, 0.0, 0.1, 0.3, 0.0, 1.9], "train"),
        Example(["to", " Paris", "!"], [0.2, 1.1, 0.0], "test"),
    ]
    neuron.max_activation = 2.0
    store.write_neurons(FIXTURE_MODEL, [neuron])
    return store


def test_the_api_writes_an_index_and_a_page_per_neuron(site_kb, tmp_path):
    summary = build_site(site_kb, tmp_path / "site", models=[FIXTURE_MODEL], layers=[0, 1])
    pages = sorted(p.name for p in (tmp_path / "site" / "n" / FIXTURE_MODEL).iterdir())
    assert summary.pages == 6 and pages == ["0_0.html", "0_2.html", "0_3.html", "1_5.html", "1_6.html", "1_7.html"]
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'id="fixture-L0"' in index and 'id="fixture-L2"' not in index
    page = (tmp_path / "site" / "n" / FIXTURE_MODEL / "1_5.html").read_text()
    assert 'class="tok key"' in page and "train examples (1)" in page and "test examples (1)" in page
    assert "old" not in re.sub(r"<[^>]+>", "", page.split("<h2>Examples</h2>")[1].split("<h2>")[0])  # another document
    assert 'href="../../n/fixture/0_0.html"' in page  # similar neuron 0/0, linked
    assert "<th>N2G</th><th>token lookup</th><th>n-gram</th>" in page
    if shutil.which("dot"):
        assert "<svg" in page and "legend" in page
    assert "src=" not in index + page and "fetch(" not in index  # nothing loaded from elsewhere


def test_the_cli_writes_the_site_and_rejects_empty_selections(site_kb, cli_env, tmp_path):
    result = runner.invoke(app, ["site", str(tmp_path / "s"), "--model", OTHER_MODEL], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Wrote 2 neuron pages" in result.stdout
    assert sorted(p.name for p in (tmp_path / "s" / "n" / OTHER_MODEL).iterdir()) == ["0_1.html", "1_0.html"]
    empty = runner.invoke(app, ["site", str(tmp_path / "t"), "--model", OTHER_MODEL, "--layers", "5-6"], env=cli_env)
    assert empty.exit_code == 1 and "No stored neuron matches" in empty.stderr
    unknown = runner.invoke(app, ["site", str(tmp_path / "t"), "--model", "nope"], env=cli_env)
    assert unknown.exit_code == 1 and "No model 'nope'" in unknown.stderr


def _chrome():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (scripts/test.sh installs it)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not browser or not driver_path:
        pytest.skip("Chromium and chromedriver are not installed (scripts/test.sh installs them with apt as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def test_a_real_browser_searches_a_token_and_follows_a_link_from_file_urls(site_kb, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    build_site(site_kb, tmp_path / "site")
    driver = _chrome()
    try:
        driver.get((tmp_path / "site" / "index.html").resolve().as_uri())
        assert driver.title == "n2g-kb"
        box = driver.find_element(By.ID, "q")
        box.send_keys(" Paris")
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results a"))
        links = driver.find_elements(By.CSS_SELECTOR, "#results a")
        assert [a.text for a in links][:2] == ["fixture layer 1 neuron 5", "fixture layer 0 neuron 0"]
        assert len(links) == 8  # every neuron that fires on paris, strongest first
        assert 'fire on "paris": 8' in driver.find_element(By.ID, "searched").text
        links[0].click()
        WebDriverWait(driver, 10).until(ec.title_is("fixture layer 1 neuron 5"))
        assert driver.current_url.endswith("/n/fixture/1_5.html")
        key = driver.find_element(By.CSS_SELECTOR, ".ex .key")
        assert key.text.strip() == "Paris" and key.get_attribute("title") == "1.900"
        driver.find_element(By.LINK_TEXT, "← all neurons").click()
        WebDriverWait(driver, 10).until(ec.title_is("n2g-kb"))
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
