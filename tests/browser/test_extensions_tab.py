"""The Extensions tab in a real browser: a refused action is a notice, the rest keeps working."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.atelier_page import TIMEOUT_MS, AtelierPage


def test_a_refused_action_is_a_notice_and_the_table_and_controls_stay(atelier: AtelierPage) -> None:
    atelier.tab("Extensions")
    table = atelier.page.locator("#extensions_table")
    expect(table).to_contain_text("face-swap", timeout=TIMEOUT_MS)

    atelier.page.get_by_role("button", name="Update (git pull)").click()  # the shipped one is refused
    expect(atelier.page.locator("#extensions_status")).to_contain_text("can be disabled, not changed",
                                                                       timeout=TIMEOUT_MS)
    for elem_id in ("extensions_enabled", "extensions_chosen"):  # no red "Error" badge on them
        expect(atelier.page.locator(f"#{elem_id}")).not_to_contain_text("Error")
    expect(table).to_contain_text("face-swap")
    atelier.page.locator("#extensions_apply").click()  # the controls still work
    expect(atelier.page.locator("#extensions_status")).to_contain_text("Saved", timeout=TIMEOUT_MS)
