"""serve's live page (GET /) in a real browser: headless Chromium against `speedlayer serve`
and a real broker. The page paints every topic, follows the stream as records arrive (no
reload), gives every chart a text alternative, logs no console error (a Content-Security-Policy
violation, a failed request or a script error would be one) and works from the keyboard.

Run: tests/browser/run.sh  (or ctest -R browser_live_page, which also starts the broker).
"""

import json
import os
import re

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import create_topics, unique

# Seconds for the page to show something: generous, CI machines are slow and serve commits
# every 100 ms; a wait ends as soon as its condition holds.
READY_TIMEOUT_S = 120
DATA_TIMEOUT_S = 90

# What the page shows, read in one go (no stale elements between reads).
STATE_JS = r"""
const value = (root, sel) => {
  const e = root.querySelector(sel);
  return e ? e.getAttribute('data-value') : null;
};
const out = {
  connection: document.getElementById('connection').dataset.state,
  ready: document.getElementById('readiness').dataset.ready,
  lag: Object.fromEntries([...document.querySelectorAll('#lag li')].map(
    (li) => [li.dataset.topic, li.dataset.value])),
  topics: {},
};
for (const s of document.querySelectorAll('section.topic')) {
  const tables = [...s.querySelectorAll('table.data-table')].map((t) => ({
    cls: t.className,
    rows: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    display: getComputedStyle(t).display,
    // Clipped away on screen (the visually-hidden pattern), still in the accessibility tree.
    clipped: getComputedStyle(t).clipPath !== 'none' && getComputedStyle(t).position === 'absolute',
  }));
  out.topics[s.dataset.topic] = {
    heading: (s.querySelector('h2') || {}).textContent,
    total: value(s, '.total-count'),
    window: value(s, '.window-count'),
    late: value(s, '.late-count'),
    malformed: value(s, '.malformed-count'),
    lag: value(s, '.lag-count'),
    consumed: value(s, '.consumed-count'),
    charts: [...s.querySelectorAll('svg')].map((g) => ({
      role: g.getAttribute('role'), label: g.getAttribute('aria-label') || '',
      marks: g.querySelectorAll('rect, path').length})),
    tables,
  };
}
return out;
"""


def page_state(driver):
    return driver.execute_script(STATE_JS)


class Page:
    """The browser on serve's page, with waits that explain themselves when they time out."""

    def __init__(self, driver, serve, out_dir):
        self.driver, self.serve, self.out_dir = driver, serve, out_dir
        self.logs = []

    def collect_logs(self):
        self.logs.extend(self.driver.get_log("browser"))
        return self.logs

    def wait(self, what, condition, timeout=DATA_TIMEOUT_S):
        """Wait until condition(state) is true for the page's state; returns that state."""
        seen = {}

        def check(driver):
            self.serve.assert_running()
            seen["state"] = page_state(driver)
            return seen["state"] if condition(seen["state"]) else False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(check)
        except TimeoutException:
            shot = self.out_dir / "live-page-failure.png"
            try:
                self.driver.save_screenshot(str(shot))
                logs = self.collect_logs()
            except WebDriverException as e:
                logs = ["(browser gone: %s)" % e]
            raise AssertionError(
                "the page did not show %s within %ss.\nlast state: %s\nbrowser console: %s\n"
                "screenshot: %s\nserve stderr:\n%s" % (
                    what, timeout, json.dumps(seen.get("state"), indent=1)[-6000:],
                    logs[-20:], shot, self.serve.stderr())) from None


def counts(state, topic):
    t = state["topics"].get(topic)
    return int(t["total"]) if t and t["total"] not in (None, "") else None


def test_live_page_follows_the_stream(bootstrap, start_serve, produce, browser, out_dir):
    a, b = unique("a"), unique("b")
    create_topics(bootstrap, [a, b])
    group = unique("group")
    serve = start_serve([
        "--brokers", bootstrap, "--topic", a, "--topic", b, "--window", "2s", "--grace", "1s",
        "--listen", "127.0.0.1:0", "--group", group, "--changelog-topic", group + ".changelog",
        "--output-topic", group + ".views", "--transactional-id", group + "-txn"])
    page = Page(browser, serve, out_dir)

    browser.get(serve.url + "/")
    assert browser.title.startswith("speedlayer"), browser.title
    page.wait("the stream connected and serve ready",
              lambda s: s["connection"] == "connected" and s["ready"] == "true",
              timeout=READY_TIMEOUT_S)

    # First batch: every record of a has "kiwi" twice, of b "mango": the top term of every
    # window, with twice as many occurrences as the window has records.
    first = {a: 30, b: 20}
    produce(a, ["kiwi apple kiwi %d" % i for i in range(first[a])])
    produce(b, ["mango pear mango %d" % i for i in range(first[b])])
    before = page.wait("a section per topic with the first batch's counts (%s)" % first,
                       lambda s: all(counts(s, t) == n for t, n in first.items()))

    # Second batch, the page still open: the counts grow without a reload.
    second = {a: 25, b: 15}
    produce(a, ["kiwi banana kiwi %d" % i for i in range(second[a])])
    produce(b, ["mango plum mango %d" % i for i in range(second[b])])
    want = {t: first[t] + second[t] for t in first}
    after = page.wait("the second batch's counts (%s)" % want,
                      lambda s: all(counts(s, t) == n for t, n in want.items()))
    # Lag and the topics' totals arrive with the status event (at most about once a second).
    after = page.wait("consumer lag (on top and per topic) and the consumed totals %s" % want,
                      lambda s: all(str(s["lag"].get(t, "")).isdigit()
                                    and str(s["topics"][t]["lag"]).isdigit()
                                    and s["topics"][t]["consumed"] == str(want[t])
                                    for t in (a, b)))
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1

    for topic, term in ((a, "kiwi"), (b, "mango")):
        t = after["topics"][topic]
        assert topic in t["heading"], t["heading"]
        assert t["malformed"] == "0" and t["late"] == "0", t
        assert t["lag"].isdigit(), t
        # Two charts, each an image with a summary that names the topic and has marks drawn.
        assert [c["role"] for c in t["charts"]] == ["img", "img"], t["charts"]
        for c in t["charts"]:
            assert topic in c["label"] and c["marks"] > 0, c
        assert t["charts"][0]["label"] != before["topics"][topic]["charts"][0]["label"]
        # Behind each chart a table with the same numbers: hidden on screen, not display:none.
        windows, terms = t["tables"]
        for table in (windows, terms):
            assert table["rows"], table
            assert table["display"] != "none" and table["clipped"], table
        assert sum(int(re.sub(r"\D", "", r[2])) for r in windows["rows"]) == want[topic], \
            windows["rows"]
        # The terms shown are the current window's: the one the "Current window" count is of.
        assert terms["rows"][0][0] == term, terms["rows"]
        top_count = int(re.sub(r"\D", "", terms["rows"][0][1]))
        assert top_count == 2 * int(t["window"]), (t["window"], terms)

    shot = out_dir / "live-page.png"
    assert browser.save_screenshot(str(shot)), shot

    # Without a mouse: Tab reaches "Show data tables", Enter shows the tables on screen.
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.TAB)
    for _ in range(30):
        active = browser.switch_to.active_element
        if active.get_attribute("id") == "toggle-tables":
            break
        active.send_keys(Keys.TAB)
    else:
        raise AssertionError("Tab never reached the 'Show data tables' button")
    active.send_keys(Keys.ENTER)
    assert active.get_attribute("aria-pressed") == "true"
    page.wait("the data tables on screen",
              lambda s: all(not tb["clipped"] for t in s["topics"].values() for tb in t["tables"]),
              timeout=10)

    logs = page.collect_logs()
    for e in logs:
        print("browser console: %s" % json.dumps(e))
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert not errors, "console errors:\n%s" % "\n".join(json.dumps(e) for e in errors)
    serve.assert_running()
    print("screenshot: %s" % shot, "(SPEEDLAYER_BROWSER_OUT=%s)" % os.environ.get(
        "SPEEDLAYER_BROWSER_OUT", ""))
