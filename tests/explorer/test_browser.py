"""The explorer in a real browser (Debian's chromium, driven by Playwright), over a real server.

Each view is used as a person would: a text search renders thumbnails and text cards with scores, a
click searches from an item, an uploaded image searches by its pixels, a morph strip has one column
per step, the edit slider changes the neighbours, the map draws a point per sampled item. Each test
writes a screenshot of its view into its output folder. With ``LATENTSPACE_EXPLORER_SCREENSHOTS``
set to a folder, the screenshots are also written there as small palette PNGs (how the README's
``docs/images/explore-*.png`` are made).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.explorer.http_app import ExplorerServer
from latentspace.indexer.shapes.render import ShapeSpec, render_shape
from tests.explorer.conftest import COLLECTION, DIRECTION, IMAGES

pytestmark = pytest.mark.semantic
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Bounds on waits for the page (generous: two shared cores, a model behind every call).
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, explorer: ExplorerServer) -> Iterator[object]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Offline: everything the page loads comes from the explorer itself (or is inline data).
    page.on("request", lambda request: None if request.url.startswith((explorer.url, "data:"))
            else elsewhere.append(request.url))
    page.goto(f"{explorer.url}?collection={COLLECTION}")
    page.wait_for_selector(f"#collection option[value='{COLLECTION}']", state="attached")
    page.wait_for_function("document.querySelectorAll('#filters select').length > 0")
    yield page
    context.close()
    assert errors == [], f"the page raised: {errors}"
    assert elsewhere == [], f"the page reached outside the explorer: {elsewhere}"


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """The page as a PNG in the test's folder (and, when asked, a small copy for the README)."""
    path = tmp_path / f"explore-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    target = os.environ.get("LATENTSPACE_EXPLORER_SCREENSHOTS")
    if target:
        # 64 colours by octree keep a rare colour (one red chip among blue tiles) that median cut merges.
        image = Image.open(path).convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE,
                                                         dither=Image.Dither.NONE)
        image.save(Path(target) / path.name, optimize=True)
    return path


def search(page, text: str) -> None:
    page.fill("#search-text", text)
    page.press("#search-text", "Enter")
    page.wait_for_function(f"document.querySelector('#search-about').textContent.includes({text!r})")


def hit_payloads(page, container: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(f"{container} .hit", """tiles => tiles.map(tile => Object.fromEntries(
        [...tile.querySelectorAll('.payload span')].map(s => s.textContent.split(': '))))""")


def sticking_out(page) -> list[str]:
    """The visible elements reaching past the right edge of the screen (outside scrolling strips)."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getClientRects().length && !e.closest('.strip, [hidden]'))
        .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
        .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''))""")


def png(spec: ShapeSpec, seed: int) -> bytes:
    buffer = io.BytesIO()
    render_shape(spec, np.random.default_rng(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_text_search_shows_thumbnails_and_cards_with_scores(page, tmp_path: Path) -> None:
    search(page, "a red circle")
    tiles = page.locator("#search-results .hit")
    assert tiles.count() == 24
    assert page.locator("#search-results .image-hit img[src^='data:image/webp;base64,']").count() >= 1
    assert page.locator("#search-results .text-hit .text").count() >= 1
    scores = [float(s) for s in page.locator("#search-results .score").all_text_contents()]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    assert hit_payloads(page, "#search-results")[0]["color"] == "red"
    # A filter from the payload fields: images only.
    page.select_option("#filters select[data-field='kind']", label="kind: image")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length === 0")
    payloads = hit_payloads(page, "#search-results")
    assert {p["kind"] for p in payloads} == {"image"}
    assert [(p["color"], p["shape"]) for p in payloads[:4]] == [("red", "circle")] * 4  # all there are
    # Calibrated scores (each modality standardised): the ranking is redrawn, still best first.
    page.select_option("#filters select[data-field='kind']", label="kind: any")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length > 0")
    page.select_option("#search-scores", "calibrated")
    page.wait_for_function("[...document.querySelectorAll('#search-results .score')]"
                           ".some(s => Number(s.textContent) > 1)")
    calibrated = [float(s) for s in page.locator("#search-results .score").all_text_contents()]
    assert calibrated == sorted(calibrated, reverse=True) and calibrated[0] > 1
    assert hit_payloads(page, "#search-results")[0]["color"] == "red"
    page.select_option("#search-scores", "raw")
    page.select_option("#filters select[data-field='kind']", label="kind: image")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length === 0")
    screenshot(page, tmp_path, "search")


def test_clicking_an_item_or_uploading_an_image_searches_from_it(page, tmp_path: Path) -> None:
    search(page, "a small green star")
    first = page.locator("#search-results .hit").first
    item = first.get_attribute("data-id")
    about = page.text_content("#search-about")
    first.locator(".look").click()
    page.wait_for_function(f"document.querySelector('#search-about').textContent !== {about!r}")
    assert page.locator("#search-results .hit").first.get_attribute("data-id") == item
    assert page.locator("#search-results .score").first.text_content() == "1.000"
    page.set_input_files("#search-image", files=[{"name": "blue-square.png", "mimeType": "image/png",
                                                  "buffer": png(ShapeSpec("blue", "square", "large"), 3)}])
    page.wait_for_function("document.querySelector('#search-about').textContent.includes('blue-square.png')")
    nearest = hit_payloads(page, "#search-results")[:3]
    assert [(p["color"], p["shape"]) for p in nearest] == [("blue", "square")] * 3


def test_a_morph_strip_has_one_column_per_step_with_neighbours(page, tmp_path: Path) -> None:
    search(page, "a large red circle")
    page.select_option("#filters select[data-field='kind']", label="kind: image")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length === 0")
    page.locator("#search-results .hit").first.locator("[data-pick='a']").click()
    page.click("#tabs [data-view='morph']")
    assert page.locator(".slot[data-slot='a'] .chip").is_visible()
    page.fill(".slot[data-slot='b'] input", "a large blue circle")
    page.fill("#morph-steps", "6")
    page.fill("#morph-k", "3")
    page.click("#morph-form button[type='submit']")
    page.wait_for_selector("#morph-strip .step")
    steps = page.locator("#morph-strip .step")
    assert steps.count() == 6
    assert [steps.nth(i).locator(".hit").count() for i in range(6)] == [3] * 6
    # The shapes model has a decoder: each step is drawn too.
    assert steps.locator("img.decoded[src^='data:image/png;base64,']").count() == 6
    ts = [h.split("\n")[0] for h in steps.locator("header").all_inner_texts()]
    assert ts[0] == "t = 0.00" and ts[-1] == "t = 1.00"
    first = hit_payloads(page, "#morph-strip .step:first-child")
    last = hit_payloads(page, "#morph-strip .step:last-child")
    assert (first[0]["color"], first[0]["shape"]) == ("red", "circle")
    assert (last[0]["color"], last[0]["shape"]) == ("blue", "circle")
    screenshot(page, tmp_path, "morph")


def test_the_edit_slider_changes_the_neighbours(page, tmp_path: Path) -> None:
    search(page, "a large red circle")
    page.select_option("#filters select[data-field='kind']", label="kind: image")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length === 0")
    page.locator("#search-results .hit").first.locator("[data-pick='base']").click()
    page.click("#tabs [data-view='edit']")
    page.fill("#edit-neutral", "a red circle")
    page.fill("#edit-target", "a blue circle")
    page.fill("#edit-strength", "0")
    page.press("#edit-target", "Enter")
    page.wait_for_function("document.querySelector('#edit-about').textContent.startsWith('Strength 0.00')")
    before = hit_payloads(page, "#edit-results")
    page.fill("#edit-strength", "1.5")  # a range input: fill moves the slider and fires input
    page.wait_for_function("document.querySelector('#edit-about').textContent.startsWith('Strength 1.50')")
    after = hit_payloads(page, "#edit-results")
    assert before[0]["color"] == "red" and after[0]["color"] == "blue"
    assert page.locator("#edit-drawn img[src^='data:image/png;base64,']").count() == 2
    assert [p["shape"] for p in after[:3]] == ["circle"] * 3
    screenshot(page, tmp_path, "edit")


def test_a_stored_direction_edits_like_its_labels_say(page, tmp_path: Path) -> None:
    search(page, "a large red square")
    page.select_option("#filters select[data-field='kind']", label="kind: image")
    page.wait_for_function("document.querySelectorAll('#search-results .text-hit').length === 0")
    page.locator("#search-results .hit").first.locator("[data-pick='base']").click()
    page.click("#tabs [data-view='edit']")
    page.select_option("#edit-source", "stored")
    [label] = page.locator("#edit-stored option").all_text_contents()
    assert label.startswith(f"{DIRECTION} (AUC ") and float(label.split("AUC ")[1].rstrip(")")) >= 0.95
    page.fill("#edit-strength", "0")
    page.wait_for_function("document.querySelector('#edit-about').textContent.startsWith('Strength 0.00')")
    before = hit_payloads(page, "#edit-results")
    page.fill("#edit-strength", "1.5")
    page.wait_for_function("document.querySelector('#edit-about').textContent.startsWith('Strength 1.50')")
    after = hit_payloads(page, "#edit-results")
    assert (before[0]["color"], before[0]["shape"]) == ("red", "square")
    assert (after[0]["color"], after[0]["shape"]) == ("blue", "square")


def test_the_map_draws_every_sampled_point_and_a_click_searches_from_one(page, tmp_path: Path) -> None:
    page.click("#tabs [data-view='map']")
    page.wait_for_selector("#map-canvas circle.point")
    points = page.locator("#map-canvas circle.point")
    assert points.count() == IMAGES + 144  # the whole collection: fewer items than the sample size
    assert page.locator("#map-canvas text.label").count() >= 8
    fills = set(points.evaluate_all("dots => dots.map(d => d.getAttribute('fill'))"))
    assert {"red", "blue", "green"} <= fills  # coloured by the "color" field, in its own colours
    page.fill("#map-place", "a purple star")
    page.click("#map-form button[type='submit']")
    page.wait_for_selector("#map-canvas .query text")
    assert page.locator("#map-canvas .query text").text_content() == "a purple star"
    image_point = page.locator("#map-canvas circle.point.image[data-id='large-red-circle-00']")
    image_point.hover()
    page.wait_for_selector("#map-tip img")
    # Its cluster stands out: the members are the points of its cluster, and only they.
    cluster = image_point.get_attribute("data-cluster")
    members = page.eval_on_selector_all("#map-canvas circle.point.member", "dots => dots.map(d => d.dataset.cluster)")
    assert members and set(members) == {cluster}
    assert len(members) == page.locator(f"#map-canvas circle.point[data-cluster='{cluster}']").count()
    screenshot(page, tmp_path, "map")
    image_point.click()
    page.wait_for_selector("#view-search:not([hidden]) #search-results .hit")
    assert page.locator("#search-results .score").first.text_content() == "1.000"


def test_the_page_fits_a_phone(browser, explorer: ExplorerServer, tmp_path: Path) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{explorer.url}?collection={COLLECTION}")
        page.wait_for_function("document.querySelectorAll('#filters select').length > 0")
        search(page, "a yellow triangle")
        assert sticking_out(page) == [], "wider than the phone"
        columns = page.evaluate("getComputedStyle(document.querySelector('#search-results'))"
                                ".gridTemplateColumns.split(' ').length")
        assert columns >= 3
        for view in ("morph", "edit", "map"):
            page.click(f"#tabs [data-view='{view}']")
            assert sticking_out(page) == [], f"{view} is wider than the phone"
        page.click("#tabs [data-view='search']")
        screenshot(page, tmp_path, "phone")
    finally:
        context.close()
