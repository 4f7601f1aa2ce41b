"""The page as a reader and as an editor see it (the app of tests/ui/test_server_access.py, two logins): a reader's
corpus controls are off with the reason shown; an editor's are on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ..ui.test_server_access import EDITOR, READER, server  # noqa: F401 - the module's app, as a fixture
from .conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def login(browser, url, user):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_label("username").fill(user[0])
    page.get_by_label("password").fill(user[1])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#question textarea")
    page.get_by_role("tab", name="Tài liệu · Corpus").click()
    return page


def test_a_reader_sees_the_corpus_controls_off_and_why(browser, server):  # noqa: F811
    page = login(browser, server["url"], READER)
    expect(page.locator("#edit-note")).to_contain_text("Read-only: 'binh' may ask questions but not change the "
                                                       "corpus")
    expect(page.locator("#rebuild")).to_be_disabled()
    expect(page.locator("#delete")).to_be_disabled()
    expect(page.locator("#upload input[type=file]")).to_have_count(0)  # no file box to choose from
    shot(page, "corpus-as-a-reader")
    page.context.close()

    page = login(browser, server["url"], EDITOR)
    expect(page.locator("#docs")).to_contain_text("000_fbd71147380da296.txt")
    expect(page.locator("#rebuild")).to_be_enabled()
    expect(page.locator("#edit-note")).not_to_contain_text("Read-only")
    assert page.locator("#upload input[type=file]").count() == 1
    page.context.close()
