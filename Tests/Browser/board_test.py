#!/usr/bin/python3
"""The order board in a real browser (headless Chromium through Selenium).

    board_test.py BASE_URL SCREENSHOT

Loads the board from a running order-api, places an order through the form and waits until
its row shows `notified`; submits an invalid quantity and expects the API's own error message
on the page; checks the system panel; then posts orders at a steady rate and expects the
pipeline chart to be drawn, to move, and to count each order once accepted and once
completed; writes a screenshot while the orders flow. Exits 0 when all hold, 1 otherwise
(with the reason on standard error). The end-to-end suite runs it against the real services.
"""

import json
import sys
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as conditions
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def api_error(base, body):
    """What the API itself answers to this body: the message the page must show."""
    request = urllib.request.Request(base + "/orders", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return json.load(error)["error"]["message"]
    raise AssertionError(f"the API accepted {body}")


def fill(driver, user, item, quantity):
    for field, value in (("user", user), ("item", item), ("quantity", quantity)):
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "place").click()


def message(driver, kind):
    """Waits for the form's message of this kind (ok or error) and returns its text."""
    locator = (By.CSS_SELECTOR, f"#form-message.{kind}")
    WebDriverWait(driver, 10).until(conditions.text_to_be_present_in_element(locator, " "))
    return driver.find_element(*locator).text


def post_orders(base, count, per_second):
    """Posts `count` orders at `per_second`; each must be answered 202."""
    items = ["Burger", "Pizza", "Salad", "Taco", "Sushi"]
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0, start + n / per_second - time.monotonic()))
        body = json.dumps({"user_id": "board-load", "item": items[n % len(items)], "quantity": 1}).encode()
        request = urllib.request.Request(base + "/orders", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202, response.status


def chart(driver):
    return driver.execute_script("return document.getElementById('rates').toDataURL()")


def counted(driver):
    """Orders the pipeline chart counted since the page loaded: (accepted, completed)."""
    summary = driver.find_element(By.ID, "pipeline-summary")
    return int(summary.get_attribute("data-accepted") or 0), int(summary.get_attribute("data-completed") or 0)


def main(base, screenshot):
    driver = browser()
    try:
        driver.get(base + "/")
        WebDriverWait(driver, 15).until(conditions.text_to_be_present_in_element((By.ID, "connection"), "live"))

        # An order placed through the form moves through the services to notified.
        fill(driver, "browser-test", "Pizza", "2")
        accepted = message(driver, "ok")
        assert accepted.startswith("Order ") and accepted.endswith(" accepted"), accepted
        order_id = accepted.split()[1]
        row = f'tr[data-order-id="{order_id}"]'
        # The page replaces rows and cells as it updates them: an element found a moment ago
        # may be gone, which only means the wait looks again.
        WebDriverWait(driver, 60, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: d.find_element(By.CSS_SELECTOR, row).get_attribute("data-status") == "notified")
        cells = driver.find_element(By.CSS_SELECTOR, row).find_elements(By.TAG_NAME, "td")
        assert [cell.text for cell in cells[1:4]] == ["browser-test", "Pizza", "2"], [cell.text for cell in cells]

        # An invalid quantity shows the API's own error message, and adds no row.
        rows_before = len(driver.find_elements(By.CSS_SELECTOR, "#orders tr"))
        expected = api_error(base, {"user_id": "browser-test", "item": "Pizza", "quantity": 0})
        fill(driver, "browser-test", "Pizza", "0")
        shown = message(driver, "error")
        assert shown == expected, f"the page shows {shown!r}, the API says {expected!r}"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#orders tr")) == rows_before

        # The system panel lists the work queues with their consumers (refreshed every 2 s).
        def consumers(d):
            cells = d.find_elements(By.CSS_SELECTOR, '#queues tr[data-queue="order-events"] td')
            return len(cells) == 4 and cells[3].text.isdigit() and int(cells[3].text) > 0
        WebDriverWait(driver, 10, ignored_exceptions=[StaleElementReferenceException]).until(consumers, "order-events to show its consumer")

        # Orders at a steady rate: the chart is drawn and moves while they flow, and counts
        # each once accepted and once completed (the form's order included).
        WebDriverWait(driver, 10).until(lambda d: counted(d) == (1, 1), "the form's order to be counted")
        idle = chart(driver)
        count, failures = 160, []

        def post():
            try:
                post_orders(base, count, 20)
            except Exception as error:
                failures.append(error)
        load = threading.Thread(target=post)
        load.start()
        WebDriverWait(driver, 30).until(lambda d: counted(d)[1] >= 100, "the chart to count completed orders")
        drawn = chart(driver)
        assert drawn != idle, "the chart did not draw the orders"
        WebDriverWait(driver, 10).until(lambda d: chart(d) != drawn, "the chart to move")
        summary = driver.find_element(By.ID, "pipeline-summary").text
        assert "completed/s" in summary and "p50" in summary, summary
        driver.save_screenshot(screenshot)
        load.join(30)
        assert not load.is_alive(), "posting the orders took too long"
        assert not failures, f"posting the orders failed: {failures[0]}"
        WebDriverWait(driver, 60).until(lambda d: counted(d) == (count + 1, count + 1), f"every order counted once: {counted(driver)}")
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main(sys.argv[1].rstrip("/"), sys.argv[2])
    except Exception as error:  # one line for the Swift test's failure message
        print(f"board test failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    print("board test passed")
