"""Drive Warren's web console in headless Chromium (Debian's, through Playwright): sign in,
deploy a component, see its actor types, invoke an action and see the reply and the state
change, see a trapped turn listed with the guest's output, and the host's error for a file
that is not a component. One screenshot per page in $OUT_DIR. Prints "console: ok".

Environment: WARREN_URL, ADMIN_TOKEN, COUNTER_WASM (a component), NOT_WASM (any other
file), OUT_DIR.
"""

import os
import sys

from playwright.sync_api import expect, sync_playwright

URL = os.environ["WARREN_URL"]
TOKEN = os.environ["ADMIN_TOKEN"]
OUT = os.environ["OUT_DIR"]
expect.set_options(timeout=15_000)


def shot(page, name):
    page.screenshot(path=os.path.join(OUT, f"{name}.png"), full_page=True)


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Signed out: the sign-in page; a wrong token is refused.
        response = page.goto(f"{URL}/console")
        assert response.status == 401, response.status
        expect(page.locator("#token")).to_be_visible()
        shot(page, "01-sign-in")
        page.fill("#token", "not-the-token")
        page.click("#sign-in")
        expect(page.locator("#login-message")).to_have_text("That is not the admin token.")
        page.fill("#token", TOKEN)
        page.click("#sign-in")

        # The front page: figures and charts.
        expect(page.locator("#figures")).to_be_visible()
        expect(page.locator("#components .value")).to_have_text("1")
        expect(page.locator("#kept-memory .value")).to_contain_text("/ 1024.0 MiB")
        shot(page, "02-overview")

        # A file that is not a component: the host's own error is shown.
        page.goto(f"{URL}/console#/components")
        page.set_input_files("#upload-file", os.environ["NOT_WASM"])
        page.click("#upload-button")
        expect(page.locator("#upload-error")).to_contain_text("400")
        expect(page.locator("#upload-error")).to_contain_text("WebAssembly")
        shot(page, "03-upload-refused")

        # Deploy the counter from the page.
        page.set_input_files("#upload-file", os.environ["COUNTER_WASM"])
        page.click("#upload-button")
        expect(page.locator("#upload-done")).to_contain_text("Deployed counter")
        expect(page.locator("#component-list")).to_contain_text("counter")
        shot(page, "04-components")

        # Its actor types with their manifest.
        page.goto(f"{URL}/console#/types")
        row = page.locator("#type-list tr", has_text="counter")
        expect(row).to_contain_text("add")
        expect(row).to_contain_text("get")
        shot(page, "05-actor-types")

        # One actor: invoke an action, see the reply and the state change.
        page.goto(f"{URL}/console#/actor/counter/browser")
        expect(page.locator("#state")).to_have_text("No state.")
        page.select_option("#invoke-action", "add")
        page.fill("#invoke-payload", "5")
        page.click("#invoke-button")
        expect(page.locator("#invoke-result")).to_contain_text("5")
        expect(page.locator("#state")).to_contain_text("total")
        page.fill("#invoke-payload", "2")
        page.click("#invoke-button")
        expect(page.locator("#invoke-result")).to_contain_text("7")
        expect(page.locator("#state")).to_contain_text("7")
        shot(page, "06-actor")

        # Active actors, searchable.
        page.goto(f"{URL}/console#/actors")
        expect(page.locator("#actor-list")).to_contain_text("counter/browser")
        page.fill("#actor-search", "no-such-actor")
        expect(page.locator("#actor-list")).not_to_contain_text("counter/browser")
        shot(page, "07-actors")

        # A trap from the page is listed on the front page with the guest's output.
        page.goto(f"{URL}/console#/actor/prober/p1")
        page.select_option("#invoke-action", "trap")
        page.click("#invoke-button")
        expect(page.locator("#invoke-result")).to_contain_text("trapped")
        page.goto(f"{URL}/console#/")
        failures = page.locator("#failures")
        expect(failures).to_contain_text("prober/p1")
        expect(failures).to_contain_text("trap")
        expect(failures.locator("pre.output")).to_contain_text("trapping on request")
        shot(page, "08-overview-with-a-trap")

        # Tenants.
        page.goto(f"{URL}/console#/tenants")
        expect(page.locator("#tenant-list")).to_contain_text("default")
        # The egress policy the test set, in its own column.
        expect(page.locator("#tenant-list")).to_contain_text("https://api.example.org")
        shot(page, "09-tenants")

        assert not errors, f"script errors in the page: {errors}"
        browser.close()
    print("console: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the reason goes to the test's output
        print(f"console: FAILED: {e}", file=sys.stderr)
        raise
