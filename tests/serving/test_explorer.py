"""The explorer page in headless Chromium, as a person would use it: pick a user, read the list, open a movie."""

import pytest

from serving.app import create_app
from tests.conftest import require_binary
from tests.serving.conftest import LiveServer

pytestmark = pytest.mark.spark

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def page(published):
    chromium = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    cfg, _ = published
    with LiveServer(create_app(cfg)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        # No network here: poster requests fail fast, as they would for a user offline.
        page.route("https://image.tmdb.org/**", lambda route: route.abort())
        page.goto(server.url + "/")
        yield page
        browser.close()


def test_a_user_list_shows_titles_years_reasons_and_slots(page):
    from playwright.sync_api import expect

    assert page.locator("#variant option").all_text_contents() == ["assigned", "control", "slots"]
    page.fill("#user", "5")
    page.fill("#k", "8")
    page.click("#load")
    items = page.locator("#items li")
    expect(items).to_have_count(8)
    expect(page.locator("#status")).to_contain_text("version tiny-run")
    first = items.nth(0)
    expect(first.locator(".title")).to_contain_text("1. ")
    assert first.locator(".meta").inner_text().split(" · ")[0].isdigit(), "year first"
    assert first.locator(".reason").inner_text().startswith(("Because you watched", "New release like", "Popular", "Trending"))
    assert first.locator(".slot").inner_text().lower() in {"similar", "diverse", "trending"}
    assert page.locator("#status .flag").count() == 0, "a known user's own list is not flagged"
    # Posters are unreachable: every item shows the placeholder instead of a broken image.
    expect(page.locator("#items .placeholder")).to_have_count(8)
    expect(page.locator("#items img")).to_have_count(0)


def test_clicking_a_movie_opens_its_card_and_similar_movies(page):
    from playwright.sync_api import expect

    page.fill("#user", "5")
    page.click("#load")
    first = page.locator("#items li").nth(0)
    title = first.locator(".title").inner_text().split(". ", 1)[1]
    first.click()
    expect(page.locator("#detail h2")).to_have_text(title)
    expect(page.locator("#similar li")).to_have_count(10)
    similar = page.locator("#similar li").nth(0).inner_text()
    page.locator("#similar li").nth(0).click()
    expect(page.locator("#detail h2")).to_have_text(similar.rsplit(" (", 1)[0])


def test_an_unknown_user_is_flagged_as_fallback_and_a_variant_can_be_picked(page):
    from playwright.sync_api import expect

    page.fill("#user", "987654321")
    page.select_option("#variant", "slots")
    page.click("#load")
    expect(page.locator("#status .flag")).to_have_text("fallback list")
    expect(page.locator("#status")).to_contain_text("variant slots")
