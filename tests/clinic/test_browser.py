"""A therapist's afternoon in a real browser: Debian's chromium (Selenium), a real Mosquitto, a real simulated
device daemon and ``clinic serve`` as a subprocess.  Screenshots of a failure go to a temp folder (named in
the failure message)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clinic.chromium import installed, start_chromium
from tests.clinic.clinic_process import PRESSPOINT, ClinicServer, cli_env, presspoint
from tests.mqtt_broker import Mosquitto

PASSWORD = "a long enough password"
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


def start_device(folder: Path, broker: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PRESSPOINT, "run", "--simulate", "--config", str(folder / "device.toml"),
                             "--broker", broker, *args], stdout=subprocess.DEVNULL,
                            stderr=(folder / "device.log").open("ab"), env=cli_env())


def test_a_therapist_watches_reviews_exports_and_pushes_in_a_real_browser(
    browser: Any, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

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
    devices: list[subprocess.Popen[bytes]] = []
    # PRESSPOINT_CLINIC_SHOTS=DIR keeps the screenshots there (docs/img/clinic-devices.png is this run's devices.png)
    shots = Path(os.environ.get("PRESSPOINT_CLINIC_SHOTS") or tempfile.mkdtemp(prefix="presspoint-clinic-shots-"))
    shots.mkdir(parents=True, exist_ok=True)
    step = "start"

    def text(selector: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, selector).text)

    def log_in(name: str) -> None:
        browser.find_element(By.ID, "name").send_keys(name)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "login").click()
        until("the devices page", lambda: browser.current_url.endswith("/devices"))

    try:
        step = "log in"
        browser.get(server.url + "/devices")
        assert browser.current_url.endswith("/login")
        log_in("ann")

        step = "the device comes online"
        devices.append(start_device(tmp_path, mosquitto.url, "--sessions", "1"))

        def online() -> bool:
            browser.get(server.url + "/devices")
            return "online" in [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.device td.online")]

        until("dev1 online on the devices page", online)

        step = "the live chart moves"
        browser.get(server.url + "/devices/dev1")
        until("live samples", lambda: int(text("#samples")) > 0)
        first = browser.execute_script("return document.getElementById('chart').toDataURL();")
        count = int(text("#samples"))
        until("more live samples", lambda: int(text("#samples")) > count + 10)
        until("the chart redrawn", lambda: browser.execute_script(
            "return document.getElementById('chart').toDataURL();") != first)
        assert text("#phase") not in ("", "–")
        browser.save_screenshot(str(shots / "live.png"))

        step = "the session in the history"
        assert devices[0].wait(120) == 0
        browser.get(server.url + "/sessions")
        until("the session listed", lambda: bool(browser.find_elements(By.CSS_SELECTOR, "tr.session a"))
              or bool(browser.refresh()))
        link = browser.find_element(By.CSS_SELECTOR, "tr.session a")
        session_id = link.text
        link.click()
        until("the summary stored", lambda: ("outcome" in browser.page_source and bool(
            browser.find_elements(By.CSS_SELECTOR, "#holds tr"))) or bool(browser.refresh()))
        until("the plot drawn", lambda: browser.execute_script(
            "var i = document.getElementById('plot'); return i.complete && i.naturalWidth > 0;"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#holds tr")) == 2  # header + one hold
        browser.save_screenshot(str(shots / "session.png"))

        step = "the person's history with its trends"
        browser.get(server.url + "/persons")
        browser.find_element(By.LINK_TEXT, "P-017").click()
        until("the person's page", lambda: browser.current_url.endswith("/persons/P-017"))
        assert session_id in [e.text for e in browser.find_elements(By.CSS_SELECTOR, "tr.visit a")]
        until("the trends plot drawn", lambda: browser.execute_script(
            "var i = document.getElementById('trends'); return i.complete && i.naturalWidth > 0;"))
        browser.save_screenshot(str(shots / "person.png"))

        step = "a pain rating sent from the person's page, shown at once"
        form = browser.find_element(By.ID, f"answer-{session_id}")
        form.find_element(By.NAME, "pain_after").send_keys("2")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        until("the answer sent", lambda: bool(browser.find_elements(By.ID, "answered")))
        assert text(f"#sent-{session_id}-pain_after") == "2 (sent)"

        step = "CSV and PDF downloads"
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

        step = "a field error, then a plan pushed and applied"
        devices.append(start_device(tmp_path, mosquitto.url, "--sessions", "0", "--wait-button"))
        until("dev1 online again", online)
        browser.get(server.url + "/devices/dev1/plan")
        hold = browser.find_element(By.ID, "f-hold_s")
        hold.clear()
        hold.send_keys("5")
        browser.find_element(By.ID, "push").click()
        until("the field error", lambda: bool(browser.find_elements(By.ID, "error-hold_s")))
        assert "30" in text("#error-hold_s")
        assert not browser.find_elements(By.ID, "answer")
        for name, value in (("hold_s", "45"), ("target", "2.5 kgf"), ("tolerance", "3.5 kgf")):
            field = browser.find_element(By.ID, f"f-{name}")
            field.clear()
            field.send_keys(value)
        browser.find_element(By.ID, "push").click()
        until("the device's answer", lambda: bool(browser.find_elements(By.ID, "answer")), 40)
        assert text("#answer").startswith("applied"), text("#answer")
        browser.save_screenshot(str(shots / "plan.png"))
        browser.get(server.url + "/devices")
        browser.save_screenshot(str(shots / "devices.png"))

        step = "the device acknowledges the rating it received when it came online"

        def acknowledged() -> bool:
            browser.get(server.url + "/persons/P-017")
            return text(f"#sent-{session_id}-pain_after") == "2 (acknowledged)"

        until("the rating acknowledged", acknowledged, 40)

        step = "a viewer is refused the clear"
        browser.find_element(By.ID, "logout").click()
        until("the login page", lambda: browser.current_url.endswith("/login"))
        log_in("vic")
        browser.get(server.url + "/persons/P-017")
        assert not browser.find_elements(By.ID, "clear-soreness")
        post = ("var done = arguments[arguments.length - 1]; var body = new URLSearchParams();"
                " body.set('csrf', document.querySelector('input[name=csrf]').value);"
                " fetch(arguments[0], {method: 'POST', body: body}).then(function (r) { done(r.status); });")
        assert browser.execute_async_script(post, "/persons/P-017/clear") == 403

        step = "refused after logging out"
        browser.find_element(By.ID, "logout").click()
        until("the login page", lambda: browser.current_url.endswith("/login"))
        browser.get(server.url + f"/sessions/{session_id}")
        assert browser.current_url.endswith("/login")
    except BaseException:
        browser.save_screenshot(str(shots / "failure.png"))
        raise AssertionError(f"failed at step {step!r}; screenshots in {shots}; "
                             f"clinic log: {server.log.read_text()[-1500:]}") from None
    finally:
        for device in devices:
            if device.poll() is None:
                device.terminate()
                device.wait(30)
        server.stop()
