#!/usr/bin/python3
"""Drives headless Chromium through a controller's web UI (sluice's own
dashboard, or Rspamd's WebUI from static_dir) and checks what a user sees
against the controller's API: log in with a password, status counts equal
to /stat, messages sent through the milter in the history with their
symbols, a threshold changed in the UI used by the next scan, a pasted
message's verdict, and no JavaScript console errors. Screenshots of every
step go to --shots. Prints PASS/FAIL lines; exits non-zero on a failure.

Debian's python3-selenium and chromium-driver only: nothing from npm/pip.
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15


class Check:
    def __init__(self, ui, shots, driver):
        self.ui, self.shots, self.driver = ui, shots, driver
        self.failed = 0
        self.step = 0

    def ok(self, cond, what, detail=""):
        print(("PASS " if cond else "FAIL ") + f"[{self.ui}] {what}", flush=True)
        if not cond:
            self.failed += 1
            if detail:
                print(f"    {detail}"[:2000], flush=True)
        return cond

    def step_run(self, name, fn, *args):
        """One step; an exception fails it and the next step still runs."""
        try:
            return fn(*args)
        except Exception as e:
            self.ok(False, f"step '{name}' ran", repr(e))
            self.shot(f"{name}-error")
            return None

    def shot(self, name):
        self.step += 1
        path = os.path.join(self.shots, f"{self.ui}-{self.step:02d}-{name}.png")
        self.driver.save_screenshot(path)


def api(base, path, password, body=None):
    req = urllib.request.Request(base + path, data=body, method="POST" if body is not None else "GET")
    req.add_header("Password", password)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def browser(chromedriver):
    o = Options()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=1400,1800"):
        o.add_argument(a)
    o.add_argument("--user-data-dir=" + os.environ["WEBUI_PROFILE"])
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=o)


def wait(d, cond, what):
    # A table the page redraws while the condition reads it leaves a stale
    # element: the next poll finds the new one.
    try:
        return WebDriverWait(d, WAIT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,)).until(cond)
    except TimeoutException:
        return None


def text_of(d, i):
    """The text of element `i`, read again if the page redrew it meanwhile."""
    for _ in range(10):
        try:
            return by_id(d, i).text
        except StaleElementReferenceException:
            time.sleep(0.1)
    return by_id(d, i).text


def by_id(d, i):
    return d.find_element(By.ID, i)


def console_errors(d, allowed):
    """SEVERE browser log entries, less the ones a step caused on purpose."""
    bad, allowed = [], list(allowed)
    for e in d.get_log("browser"):
        if e["level"] != "SEVERE":
            continue
        hit = next((a for a in allowed if a in e["message"]), None)
        if hit is not None:
            allowed.remove(hit)  # each one excuses one entry
            continue
        bad.append(e["message"])
    return bad


def symbol_names(row):
    return sorted((row.get("symbols") or {}).keys())


def history_rows(base, password):
    h = api(base, "/history", password)
    return h["rows"] if isinstance(h, dict) else h


# ------------------------------------------------------------ sluice's dashboard

def embedded(c, d, a):
    c.step_run("login", e_login, c, d, a)
    c.step_run("status", e_status, c, d, a)
    c.step_run("history", e_history, c, d, a)
    verdict = c.step_run("scan", e_scan, c, d, a)
    if verdict:
        c.step_run("threshold", e_threshold, c, d, a, verdict)
    # Two refusals on purpose: the page's first try without a password (none
    # is needed from secure_ip), and the wrong password.
    refused = "/auth - Failed to load resource: the server responded with a status of 401"
    errors = console_errors(d, [refused, refused])
    c.ok(not errors, "no JavaScript console errors", "; ".join(errors))


def e_login(c, d, a):
    d.get(a.base + "/")
    c.ok(wait(d, lambda d: by_id(d, "login").is_displayed(), "login form"), "the login form is shown")
    c.shot("login")
    by_id(d, "password").send_keys("wrong")
    by_id(d, "login-submit").click()
    c.ok(wait(d, lambda d: "Wrong password" in by_id(d, "login-error").text, "refusal"),
         "a wrong password is refused on the page")
    by_id(d, "password").clear()
    by_id(d, "password").send_keys(a.password)
    by_id(d, "login-submit").click()
    c.ok(wait(d, lambda d: by_id(d, "main").is_displayed(), "dashboard"),
         "logging in with the password shows the dashboard")


def e_status(c, d, a):
    wait(d, lambda d: by_id(d, "stat-scanned").text not in ("", "-"), "status")
    stat = api(a.base, "/stat", a.password)
    shown = {k: by_id(d, i).text for k, i in
             (("scanned", "stat-scanned"), ("spam_count", "stat-spam"), ("ham_count", "stat-ham"))}
    c.ok(shown == {k: str(stat[k]) for k in shown}, "status counts equal /stat", f"page {shown}, /stat {stat}")
    rows = {r.get_attribute("data-action"): r.find_element(By.CLASS_NAME, "count").text
            for r in d.find_elements(By.CSS_SELECTOR, "#action-counts tbody tr")}
    c.ok(rows == {k: str(v) for k, v in stat["actions"].items()}, "per-action counts equal /stat",
         f"page {rows}, /stat {stat['actions']}")
    c.shot("status")


def e_history(c, d, a):
    # The milter's messages, with the symbols the history endpoint has for them.
    want = {r["message-id"]: symbol_names(r) for r in history_rows(a.base, a.password)}
    missing = [m for m in a.mids if m not in want]
    c.ok(not missing, "the history endpoint has every message sent through the milter", f"missing {missing}")
    d.refresh()
    wait(d, lambda d: all(d.find_elements(By.CSS_SELECTOR, f'#history-table tr[data-message-id="{m}"]')
                          for m in a.mids), "history rows")
    bad = []
    for m in a.mids:
        tr = d.find_elements(By.CSS_SELECTOR, f'#history-table tr[data-message-id="{m}"]')
        cell = tr[0].find_element(By.CLASS_NAME, "symbols").text if tr else ""
        if not tr or any(s + "(" not in cell for s in want.get(m, ["?"])):
            bad.append((m, cell, want.get(m)))
    c.ok(not bad, f"the {len(a.mids)} milter messages are in the page's history with their symbols", f"{bad}")
    gtube = d.find_elements(By.CSS_SELECTOR, f'#history-table tr[data-message-id="{a.gtube_mid}"]')
    c.ok(bool(gtube) and "GTUBE(" in gtube[0].text and "reject" in gtube[0].text,
         "the GTUBE message shows as reject with GTUBE")
    c.shot("history")


def e_scan(c, d, a):
    # A pasted message gets its verdict.
    msg = open(a.message).read()
    want = api(a.base, "/checkv2", a.password, msg.encode())
    scan_form(d, msg)
    got = wait(d, lambda d: by_id(d, "scan-result").is_displayed() and by_id(d, "scan-action").text, "verdict")
    score = by_id(d, "scan-score").text
    c.ok(got == want["action"] and score == f"{want['score']:.2f}", "a pasted message gets its verdict",
         f"page {got} {score}, api {want['action']} {want['score']}")
    syms = {e.get_attribute("data-symbol") for e in d.find_elements(By.CSS_SELECTOR, "#scan-symbols tbody tr")}
    c.ok(syms == set(want["symbols"]), "the verdict lists the message's symbols",
         f"{syms} vs {set(want['symbols'])}")
    c.shot("scan")
    return want


def e_threshold(c, d, a, verdict):
    # A threshold changed here decides the next scan.
    score = verdict["score"]
    c.ok(score > 0 and verdict["action"] != "reject", f"the scan-form message scores above 0 ({score}) and is not rejected")
    new = {"reject": round(score / 2, 2), "rewrite subject": "", "add header": round(score / 4, 2),
           "greylist": round(score / 8, 2)}
    for action, v in new.items():
        i = d.find_element(By.CSS_SELECTOR, f'#actions-form input[data-action="{action}"]')
        i.clear()
        i.send_keys(str(v))
    c.shot("thresholds-edited")
    by_id(d, "save-actions").click()
    c.ok(wait(d, lambda d: by_id(d, "actions-status").text == "Saved", "saved"), "the new thresholds are saved",
         by_id(d, "actions-status").text)
    acts = {x["action"]: x["value"] for x in api(a.base, "/actions", a.password)}
    c.ok(acts.get("reject") == new["reject"], "/actions has the new reject threshold", f"{acts}")
    scan_form(d, open(a.message).read())
    got = wait(d, lambda d: by_id(d, "scan-result").is_displayed() and by_id(d, "scan-action").text == "reject",
               "verdict")
    c.ok(bool(got), f"the next scan (score {score}) is rejected at the new threshold {new['reject']}",
         by_id(d, "scan-action").text)
    c.shot("scan-after-threshold")


def scan_form(d, msg):
    t = by_id(d, "scan-message")
    t.clear()
    # Typing a message key by key is slow; the page reads the field's value.
    d.execute_script("arguments[0].value = arguments[1];", t, msg)
    by_id(d, "scan-submit").click()


# ------------------------------------------------------------ Rspamd's WebUI

def rspamd(c, d, a):
    if not c.step_run("login", r_login, c, d, a):
        return
    c.step_run("status", r_status, c, d, a)
    c.step_run("history", r_history, c, d, a)
    verdict = c.step_run("scan", r_scan, c, d, a)
    if verdict:
        c.step_run("threshold", r_threshold, c, d, a, verdict)
    # The page's first request asks /stat without a password, to learn
    # whether one is needed.
    errors = console_errors(d, ["/stat - Failed to load resource: the server responded with a status of 401"])
    c.ok(not errors, "no JavaScript console errors", "; ".join(errors))


def r_login(c, d, a):
    d.get(a.base + "/")
    c.ok(wait(d, lambda d: by_id(d, "connectDialog").is_displayed(), "login"), "Rspamd's login dialog is shown")
    c.shot("login")
    by_id(d, "connectPassword").send_keys(a.password)
    by_id(d, "connectButton").click()
    return c.ok(wait(d, lambda d: by_id(d, "mainUI").is_displayed(), "main"),
                "logging in with the password shows the WebUI")


def r_status(c, d, a):
    stat = api(a.base, "/stat", a.password)
    titles = lambda d: {e.get_attribute("title") for e in d.find_elements(By.CSS_SELECTOR, "#statWidgets .widget[title]")}
    # The widgets Rspamd's page draws: scanned, learned and five actions
    # (it has none for soft reject), summed over the nodes (one here).
    shown = ["no action", "greylist", "add header", "rewrite subject", "reject"]
    want = {f"{stat['scanned']:,} scanned", f"{stat.get('learned', 0):,} learned"} | \
        {f"{stat['actions'].get(k, 0):,} {k}" for k in shown}
    got = wait(d, lambda d: want <= titles(d), "widgets")
    c.ok(bool(got), "the status widgets show the counts of /stat", f"page {titles(d)}, want {want}")
    c.shot("status")


def r_history(c, d, a):
    want = {r["message-id"]: symbol_names(r) for r in history_rows(a.base, a.password)}
    by_id(d, "history_nav").click()
    table = lambda d: text_of(d, "historyTable_history")
    ok = wait(d, lambda d: all(m in table(d) for m in a.mids), "history")
    c.ok(bool(ok), "the milter's messages are in Rspamd's history table", table(d)[:500])
    # The symbols are in each row's detail part: open them all.
    for cell in d.find_elements(By.CSS_SELECTOR,
                                "#historyTable_history tbody tr:not(.footable-detail-row) td:first-child"):
        cell.click()
    missing = [s for m in a.mids for s in want.get(m, ["?"]) if s not in table(d)]
    c.ok(not missing, "with their symbols", f"missing {missing}")
    c.shot("history")


def r_scan_once(d, msg):
    by_id(d, "scan_nav").click()
    wait(d, lambda d: by_id(d, "scanMsgSource").is_displayed(), "scan tab")
    # Set the text at once (typing is slow) and tell the page, which enables
    # its buttons on input.
    d.execute_script("arguments[0].value = arguments[1];"
                     "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
                     by_id(d, "scanMsgSource"), msg)
    d.find_element(By.CSS_SELECTOR, 'button[data-upload="scan"]').click()


def r_scan(c, d, a):
    msg = open(a.message).read()
    want = api(a.base, "/checkv2", a.password, msg.encode())
    r_scan_once(d, msg)
    rows = lambda d: text_of(d, "historyTable_scan")
    got = wait(d, lambda d: want["action"] in rows(d), "scan")
    c.ok(bool(got), "a pasted message gets its verdict", rows(d)[:500])
    c.shot("scan")
    return want


def r_threshold(c, d, a, verdict):
    score = verdict["score"]
    by_id(d, "configuration_nav").click()
    inputs = lambda d: d.find_elements(By.CSS_SELECTOR, '#actionsFormField input[data-id="action"]')
    wait(d, lambda d: len(inputs(d)) == 4, "actions form")
    # The form's order: greylist, add header, rewrite subject, reject.
    values = [round(score / 8, 2), round(score / 4, 2), "", round(score / 2, 2)]
    for i, v in zip(inputs(d), values):
        i.clear()
        if v != "":
            i.send_keys(str(v))
    c.shot("thresholds-edited")
    by_id(d, "saveActionsBtn").click()
    reject = lambda: {x["action"]: x["value"] for x in api(a.base, "/actions", a.password)}.get("reject")
    c.ok(bool(wait(d, lambda d: reject() == values[3], "saved")), "the threshold saved in the WebUI is in /actions",
         f"reject is {reject()}")
    r_scan_once(d, open(a.message).read())
    rows = lambda d: text_of(d, "historyTable_scan")
    c.ok(bool(wait(d, lambda d: "reject" in rows(d), "scan")),
         f"the next scan (score {score}) is rejected at the new threshold {values[3]}", rows(d)[:500])
    c.shot("scan-after-threshold")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ui", choices=["embedded", "rspamd"], required=True)
    p.add_argument("--base", required=True, help="http://127.0.0.1:PORT of the controller")
    p.add_argument("--password", required=True)
    p.add_argument("--message", required=True, help="a message with a positive score, for the scan form")
    p.add_argument("--mids", required=True, help="comma-separated Message-IDs sent through the milter")
    p.add_argument("--gtube-mid", required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    a = p.parse_args()
    a.mids = a.mids.split(",")
    d = browser(a.chromedriver)
    c = Check(a.ui, a.shots, d)
    try:
        (embedded if a.ui == "embedded" else rspamd)(c, d, a)
    finally:
        d.quit()
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
