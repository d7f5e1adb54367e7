"""A reader walks the guide in a real browser; axe-core finds no accessibility violation."""

import pytest
from axe_playwright_python.sync_playwright import Axe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def axe_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in results.response["violations"]
    ]


def test_reader_walks_home_guide_chapter_next_previous(page, live_server):
    page.goto(live_server.url + "/")
    assert axe_violations(page) == []
    page.get_by_role("link", name="The Modern Product Manager").first.click()
    page.wait_for_url("**/modern-product-management/")
    assert page.get_by_role("heading", level=1).inner_text() == "The Modern Product Manager"
    assert axe_violations(page) == []

    page.get_by_role("link", name="What a Product Manager Actually Does").click()
    page.wait_for_url("**/what-a-product-manager-does/")
    assert "Chapter 1" in page.locator(".chapter__number").text_content()
    assert axe_violations(page) == []

    page.locator("a[rel=next]").click()
    page.wait_for_url("**/core-skills/")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == "The Core Skills of a Product Manager"
    page.locator("a[rel=prev]").click()
    page.wait_for_url("**/what-a-product-manager-does/")

    # The in-page contents jump to their sections.
    first_section = page.locator(".on-this-page a").first
    target = first_section.get_attribute("href")
    first_section.click()
    assert page.url.endswith(target)
    assert page.locator(target).is_visible()


def test_pages_work_on_a_small_phone_and_in_dark_mode(page, live_server):
    page.set_viewport_size({"width": 320, "height": 640})
    page.emulate_media(color_scheme="dark")
    page.goto(live_server.url + "/modern-product-management/pm-vs-tpm/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways at 320 px"
    assert axe_violations(page) == []
    page.goto(live_server.url + "/no-such-guide/")
    assert axe_violations(page) == []


def test_skip_link_is_the_first_focus_stop(page, live_server):
    page.goto(live_server.url + "/modern-product-management/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
