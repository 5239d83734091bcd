"""A therapist's afternoon in a real browser: Debian's chromium (Selenium), a real Mosquitto, a real simulated
device daemon and ``clinic serve`` as a subprocess.  Screenshots of a failure go to a temp folder (named in
the failure message).

Two tests, each with its own browser, broker, clinic and device, so they run side by side: the live view
watches a session at 1x; the history, exports, plan push and logins use a session the device ran at
``--speed`` (the pages show what was stored, not when).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from config.mqtt import MqttSettings
from firmware.clinic.collector import shared_filters, state_filters
from tests.clinic.chromium import installed, start_chromium
from tests.clinic.clinic_process import PRESSPOINT, ClinicServer, cli_env, presspoint
from tests.conftest import HANG_S, SPEED_LAG
from tests.mqtt_broker import Mosquitto

PASSWORD = "a long enough password"
#: The clinic collector has subscribed once the broker acknowledged each of its filters.
PREFIX = MqttSettings().topic_prefix
COLLECTOR_SUBSCRIBED = "Sending SUBACK to presspoint-clinic-test"
FILTERS = len([*shared_filters(PREFIX), *state_filters(PREFIX)])
pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not installed():
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/setup --test installs them)")
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def until(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.1)


@dataclass
class Clinic:
    """A clinic server with two users (therapist ann, viewer vic) and the files of device dev1 (P-017)."""

    folder: Path
    broker: str
    server: ClinicServer
    devices: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_device(self, *args: str) -> subprocess.Popen[bytes]:
        device = subprocess.Popen([PRESSPOINT, "run", "--simulate", "--config", str(self.folder / "device.toml"),
                                   "--broker", self.broker, *args], stdout=subprocess.DEVNULL,
                                  stderr=(self.folder / "device.log").open("ab"), env=cli_env())
        self.devices.append(device)
        return device


@pytest.fixture
def clinic(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Clinic]:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert presspoint("therapist", "keygen", "--device", "dev1", "--out", str(keys / "dev1.key")).returncode == 0
    (tmp_path / "plan.toml").write_text('target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 30\nrepetitions = 1\n'
                                        "rest_s = 5\n")
    (tmp_path / "profile.toml").write_text('name = "P-017"\nscreened_on = 2026-11-02\n[plan]\n'
                                           + (tmp_path / "plan.toml").read_text())
    (tmp_path / "device.toml").write_text(
        f'device_id = "dev1"\nplan_key_file = "{keys / "dev1.key"}"\nplan_file = "{tmp_path / "plan.toml"}"\n'
        f'profile_file = "{tmp_path / "profile.toml"}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    db = f"sqlite:///{tmp_path / 'clinic.sqlite3'}"
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    added = presspoint("clinic", "user", "add", "ann", "--role", "therapist", "--password-file",
                       str(tmp_path / "pw"), "--db", db)
    assert added.returncode == 0, added.stderr
    viewer = presspoint("clinic", "user", "add", "vic", "--role", "viewer", "--password-file", str(tmp_path / "pw"),
                        "--db", db)
    assert viewer.returncode == 0, viewer.stderr
    server = ClinicServer(tmp_path / "clinic", db=db, broker=mosquitto.url, keys_dir=keys)
    server.start()
    clinic = Clinic(tmp_path, mosquitto.url, server)
    try:
        # Subscribed before any device publishes: a session run at --speed is over in a few seconds.
        until("the clinic collector subscribed", lambda: mosquitto.log_text().count(COLLECTOR_SUBSCRIBED) >= FILTERS,
              HANG_S)
        yield clinic
    finally:
        for device in clinic.devices:
            if device.poll() is None:
                device.terminate()
                device.wait(30)
        server.stop()


class Steps:
    """Names the step under way; a failure saves a screenshot and says the step, the folder and the clinic log."""

    def __init__(self, browser: Any, server: ClinicServer) -> None:
        # PRESSPOINT_CLINIC_SHOTS=DIR keeps the screenshots there (docs/img/clinic-devices.png is a run's devices.png)
        chosen = os.environ.get("PRESSPOINT_CLINIC_SHOTS")
        self.shots = Path(chosen or tempfile.mkdtemp(prefix="presspoint-clinic-shots-"))
        self.shots.mkdir(parents=True, exist_ok=True)
        self.browser, self.server, self.now = browser, server, "start"

    def shot(self, name: str) -> None:
        self.browser.save_screenshot(str(self.shots / f"{name}.png"))

    @contextlib.contextmanager
    def run(self) -> Iterator[Steps]:
        try:
            yield self
        except BaseException:
            self.shot("failure")
            raise AssertionError(f"failed at step {self.now!r}; screenshots in {self.shots}; "
                                 f"clinic log: {self.server.log.read_text()[-1500:]}") from None


class Pages:
    """What the tests read and do on the clinic's pages."""

    def __init__(self, browser: Any, server: ClinicServer) -> None:
        from selenium.webdriver.common.by import By

        self.by, self.browser, self.url = By, browser, server.url

    def text(self, selector: str) -> str:
        return str(self.browser.find_element(self.by.CSS_SELECTOR, selector).text)

    def sign_in(self, name: str) -> None:
        """From a page that needs a login: sent to the login form, then logged in as ``name``."""
        self.browser.get(self.url + "/devices")
        assert self.browser.current_url.endswith("/login")
        self.log_in(name)

    def log_in(self, name: str) -> None:
        self.browser.find_element(self.by.ID, "name").send_keys(name)
        self.browser.find_element(self.by.ID, "password").send_keys(PASSWORD)
        self.browser.find_element(self.by.ID, "login").click()
        until("the devices page", lambda: self.browser.current_url.endswith("/devices"))

    def online(self) -> bool:
        self.browser.get(self.url + "/devices")
        return "online" in [e.text for e in self.browser.find_elements(self.by.CSS_SELECTOR, "tr.device td.online")]

    def image_drawn(self, element_id: str) -> bool:
        return bool(self.browser.execute_script(
            f"var i = document.getElementById('{element_id}'); return i.complete && i.naturalWidth > 0;"))


def test_a_therapist_logs_in_and_watches_a_live_session_in_a_real_browser(browser: Any, clinic: Clinic) -> None:
    server, page = clinic.server, Pages(browser, clinic.server)
    with Steps(browser, server).run() as step:
        step.now = "log in"
        page.sign_in("ann")

        step.now = "the device comes online"
        clinic.start_device("--sessions", "1")
        until("dev1 online on the devices page", page.online)

        step.now = "the live chart moves"
        browser.get(server.url + "/devices/dev1")
        until("live samples", lambda: int(page.text("#samples")) > 0)
        first = browser.execute_script("return document.getElementById('chart').toDataURL();")
        count = int(page.text("#samples"))
        until("more live samples", lambda: int(page.text("#samples")) > count + 10)
        until("the chart redrawn", lambda: browser.execute_script(
            "return document.getElementById('chart').toDataURL();") != first)
        assert page.text("#phase") not in ("", "–")
        step.shot("live")


def test_a_therapist_reviews_exports_and_pushes_in_a_real_browser(browser: Any, clinic: Clinic) -> None:
    server, page = clinic.server, Pages(browser, clinic.server)
    by = page.by
    with Steps(browser, server).run() as step:
        step.now = "log in"
        page.sign_in("ann")

        step.now = "the session in the history"
        assert clinic.start_device("--sessions", "1", "--speed", "20", *SPEED_LAG).wait(120) == 0
        browser.get(server.url + "/sessions")
        until("the session listed", lambda: bool(browser.find_elements(by.CSS_SELECTOR, "tr.session a"))
              or bool(browser.refresh()))
        link = browser.find_element(by.CSS_SELECTOR, "tr.session a")
        session_id = link.text
        link.click()
        until("the summary stored", lambda: ("outcome" in browser.page_source and bool(
            browser.find_elements(by.CSS_SELECTOR, "#holds tr"))) or bool(browser.refresh()))
        until("the plot drawn", lambda: page.image_drawn("plot"))
        assert len(browser.find_elements(by.CSS_SELECTOR, "#holds tr")) == 2  # header + one hold
        step.shot("session")

        step.now = "the person's history with its trends"
        browser.get(server.url + "/persons")
        browser.find_element(by.LINK_TEXT, "P-017").click()
        until("the person's page", lambda: browser.current_url.endswith("/persons/P-017"))
        assert session_id in [e.text for e in browser.find_elements(by.CSS_SELECTOR, "tr.visit a")]
        until("the trends plot drawn", lambda: page.image_drawn("trends"))
        step.shot("person")

        step.now = "a pain rating sent from the person's page, shown at once"
        form = browser.find_element(by.ID, f"answer-{session_id}")
        form.find_element(by.NAME, "pain_after").send_keys("2")
        form.find_element(by.CSS_SELECTOR, "button[type=submit]").click()
        until("the answer sent", lambda: bool(browser.find_elements(by.ID, "answered")))
        assert page.text(f"#sent-{session_id}-pain_after") == "2 (sent)"

        step.now = "CSV and PDF downloads"
        fetch = ("var done = arguments[arguments.length - 1]; fetch(arguments[0]).then(function (r) {"
                 " return r.arrayBuffer().then(function (b) { var u = new Uint8Array(b).slice(0, 40);"
                 " done([r.status, String.fromCharCode.apply(null, u)]); }); });")
        status, head = browser.execute_async_script(fetch, f"/api/v1/sessions/{session_id}/samples.csv")
        assert status == 200 and head.startswith("time_s,force_n\n")
        status, head = browser.execute_async_script(fetch, f"/api/v1/sessions/{session_id}/report.pdf")
        assert status == 200 and head.startswith("%PDF-")
        status, head = browser.execute_async_script(fetch, "/persons/P-017/sessions.csv")
        assert status == 200 and head.startswith("session_id,device_id,started_at,outcome,")
        status, head = browser.execute_async_script(fetch, "/persons/P-017/report.pdf")
        assert status == 200 and head.startswith("%PDF-")

        step.now = "a field error, then a plan pushed and applied"
        clinic.start_device("--sessions", "0", "--wait-button")
        until("dev1 online again", page.online)
        browser.get(server.url + "/devices/dev1/plan")
        hold = browser.find_element(by.ID, "f-hold_s")
        hold.clear()
        hold.send_keys("5")
        browser.find_element(by.ID, "push").click()
        until("the field error", lambda: bool(browser.find_elements(by.ID, "error-hold_s")))
        assert "30" in page.text("#error-hold_s")
        assert not browser.find_elements(by.ID, "answer")
        for name, value in (("hold_s", "45"), ("target", "2.5 kgf"), ("tolerance", "3.5 kgf")):
            field_ = browser.find_element(by.ID, f"f-{name}")
            field_.clear()
            field_.send_keys(value)
        browser.find_element(by.ID, "push").click()
        until("the device's answer", lambda: bool(browser.find_elements(by.ID, "answer")), 40)
        assert page.text("#answer").startswith("applied"), page.text("#answer")
        step.shot("plan")
        browser.get(server.url + "/devices")
        step.shot("devices")

        step.now = "the device acknowledges the rating it received when it came online"

        def acknowledged() -> bool:
            browser.get(server.url + "/persons/P-017")
            return page.text(f"#sent-{session_id}-pain_after") == "2 (acknowledged)"

        until("the rating acknowledged", acknowledged, 40)

        step.now = "a viewer is refused the clear"
        browser.find_element(by.ID, "logout").click()
        until("the login page", lambda: browser.current_url.endswith("/login"))
        page.log_in("vic")
        browser.get(server.url + "/persons/P-017")
        assert not browser.find_elements(by.ID, "clear-soreness")
        post = ("var done = arguments[arguments.length - 1]; var body = new URLSearchParams();"
                " body.set('csrf', document.querySelector('input[name=csrf]').value);"
                " fetch(arguments[0], {method: 'POST', body: body}).then(function (r) { done(r.status); });")
        assert browser.execute_async_script(post, "/persons/P-017/clear") == 403

        step.now = "refused after logging out"
        browser.find_element(by.ID, "logout").click()
        until("the login page", lambda: browser.current_url.endswith("/login"))
        browser.get(server.url + f"/sessions/{session_id}")
        assert browser.current_url.endswith("/login")
