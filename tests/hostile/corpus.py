"""The bad-input corpus: files, URLs and arguments a careless or hostile user might give.

Each ``Case`` runs in its own empty folder (the working directory), where its
``files`` are created first; ``argv`` names them relatively.  The CLI must
refuse every case with exit 2 and one line on stderr containing ``expect``.
A case a part does not refuse yet may carry ``xfail`` (the reason) until it does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: File contents that are not bytes: made with os.mkfifo, a link to itself, a folder, a sparse file.
FIFO, LOOP, FOLDER = "<fifo>", "<symlink loop>", "<folder>"
HUGE_TOML, HUGE_CSV = "<sparse 2 MiB>", "<sparse 65 MiB>"

FileContent = bytes | str


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    expect: str
    files: dict[str, FileContent] = field(default_factory=dict)
    xfail: str | None = None


GOOD_PLAN = b'target = "3 kgf"\ntolerance = "4 kgf"\n'

# ---------------------------------------------------------------- plans (name, TOML, what the line names)

BAD_PLANS: list[tuple[str, bytes, str]] = [
    ("repetitions-true", GOOD_PLAN + b"repetitions = true\n", "'repetitions'"),
    ("repetitions-float", GOOD_PLAN + b"repetitions = 2.0\n", "'repetitions'"),
    ("repetitions-string", GOOD_PLAN + b'repetitions = "3"\n', "'repetitions'"),
    ("debounce-true", GOOD_PLAN + b"abort_debounce_ms = true\n", "'abort_debounce_ms'"),
    ("grace-true", GOOD_PLAN + b"release_grace_s = true\n", "'release_grace_s'"),
    ("hold-string", GOOD_PLAN + b'hold_s = "60"\n', "'hold_s'"),
    ("hold-nan", GOOD_PLAN + b"hold_s = nan\n", "'hold_s'"),
    ("band-bool", GOOD_PLAN + b"band = false\n", "'band'"),
    ("empty", b"", "'target': required"),
    ("comment-only", b"# a plan\n", "'target': required"),
    ("empty-plan-table", b"[plan]\n", "'target': required"),
    ("target-only", b'target = "2 kgf"\n', "'tolerance': required"),
    ("tolerance-only", b'tolerance = "4 kgf"\n', "'target': required"),
    ("low-tolerance-only", b'tolerance = "2.8 kgf"\n', "'tolerance'"),
    ("kg-is-a-mass", b'target = "3 kg"\ntolerance = "4 kgf"\n', "kg is a mass"),
    ("huge-force", b'target = "3 kgf"\ntolerance = "4 kgf"\ntherapist_max = "1e300 N"\n', "'therapist_max'"),
    ("force-1e308", b'target = 1e308\ntolerance = "4 kgf"\n', "'target'"),
    ("force-inf", b'target = inf\ntolerance = "4 kgf"\n', "'target'"),
    ("force-stone", b'target = "3 stone"\ntolerance = "4 kgf"\n', "unknown force unit"),
    ("force-negative", b'target = -1\ntolerance = "4 kgf"\n', "'target'"),
    ("force-array", b'target = [3]\ntolerance = "4 kgf"\n', "'target'"),
    ("force-date", b'target = 2026-01-01\ntolerance = "4 kgf"\n', "'target'"),
    ("tolerance-over-cap", b'target = "3 kgf"\ntolerance = "9 kgf"\n', "'tolerance'"),
    ("unknown-key", GOOD_PLAN + b'targett = "3 kgf"\n', "'targett'"),
    ("nested-arrays", b"target = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than"),
    ("nested-tables", b"target = " + b"{a = " * 5000 + b"\n", "nested more than"),
    ("dotted-key", b"a" + b".a" * 20_000 + b" = 1\n", "dotted key of"),
    ("long-header", b"[" + b".".join([b"t"] * 200) + b"]\n", "dotted key of"),
    ("bom", b"\xef\xbb\xbf" + GOOD_PLAN, "byte-order mark"),
    ("not-utf8", b"target = \"\xff\xfe\"\n", "not UTF-8"),
    ("not-toml", b"target = \n", "not valid TOML"),
    ("long-value", b'target = "' + b"9" * 500_000 + b' kgf"\ntolerance = "4 kgf"\n', "'target'"),
    ("long-key", b"k" * 200_000 + b" = 1\n" + GOOD_PLAN, "unknown field"),
]

# ---------------------------------------------------------------- device configs

BAD_DEVICES: list[tuple[str, bytes, str]] = [
    ("mqtt-port-true", b"[mqtt]\nport = true\n", "'mqtt.port'"),
    ("mqtt-port-zero", b"[mqtt]\nport = 0\n", "'mqtt.port'"),
    ("mqtt-port-string", b'[mqtt]\nport = "1883"\n', "'mqtt.port'"),
    ("mqtt-empty-host", b'[mqtt]\nenabled = true\nhost = ""\n', "'mqtt.host'"),
    ("mqtt-host-space", b'[mqtt]\nenabled = true\nhost = "a b"\n', "'mqtt.host'"),
    ("mqtt-keepalive-string", b'[mqtt]\nkeepalive_s = "30"\n', "'mqtt.keepalive_s'"),
    ("mqtt-tls-yes", b'[mqtt]\ntls = "yes"\n', "'mqtt.tls'"),
    ("mqtt-enabled-one", b"[mqtt]\nenabled = 1\n", "'mqtt.enabled'"),
    ("mqtt-protocol-int", b"[mqtt]\nprotocol = 5\n", "'mqtt.protocol'"),
    ("device-max-huge", b'device_max = "1e300 N"\n', "'device_max'"),
    ("device-max-kg", b'device_max = "9 kg"\n', "kg is a mass"),
    ("unknown-table", b"[mqt]\nport = 1\n", "'mqt'"),
    ("deep-nesting", b"[mqtt]\nhost = " + b"[" * 3000 + b"\n", "nested more than"),
]

BAD_PROFILES: list[tuple[str, bytes, str]] = [
    ("cleared-yes", b'name = "P"\n[contraindications.osteoporosis]\ncleared_by_clinician = "yes"\n', "cleared_by"),
    ("cleared-one", b'name = "P"\n[contraindications.osteoporosis]\ncleared_by_clinician = 1\n', "cleared_by"),
    ("screened-number", b'name = "P"\nscreened_on = 0\n', "'screened_on'"),
    ("personal-kg", b'name = "P"\npersonal_tolerance = "3 kg"\n', "kg is a mass"),
]

# ---------------------------------------------------------------- traces

TRACE_HEAD = b"time_s,force_n\n"
BAD_TRACES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty file"),
    ("bad-header", b"t,f\n0,1\n", "header must be"),
    ("unterminated-quote", TRACE_HEAD + b'0,1\n"1,2\n3,4\n', "line 3: not CSV (unterminated quote)"),
    ("force-1e308", TRACE_HEAD + b"0,1e308\n", "got 1e+308"),
    ("force-inf", TRACE_HEAD + b"0,inf\n", "force_n must be finite"),
    ("time-nan", TRACE_HEAD + b"nan,1\n", "time_s must be a finite"),
    ("time-backwards", TRACE_HEAD + b"2,1\n1,1\n", "time goes backwards"),
    ("three-columns", TRACE_HEAD + b"0,1,2\n", "expected 2 columns"),
    ("not-a-number", TRACE_HEAD + b"0," + b"7" * 100_000 + b"x\n", "force_n is not a number"),
    ("bom", b"\xef\xbb\xbf" + TRACE_HEAD + b"0,1\n", "byte-order mark"),
    ("not-utf8", TRACE_HEAD + b"0,\xff\n", "not UTF-8"),
    ("header-only", TRACE_HEAD, "no data rows"),
]

# ---------------------------------------------------------------- broker URLs

BAD_URLS: list[tuple[str, str]] = [
    ("mqtt://127.0.0.1:0", "port"),
    ("mqtt://h?keepalive_s=abc", "keepalive_s"),
    ("mqtt://h?keepalive_s=1", "keepalive_s"),
    ("mqtt://h?keepalive_s=99999999999", "keepalive_s"),
    ("mqtt://h?protocol=4", "protocol"),
    ("mqtt://h?client_id=", "client_id"),
    ("mqtt://h?cert_file=/x", "cert_file"),
    ("mqtt://h?colour=red", "unknown option"),
    ("http://h", "scheme"),
    ("mqtt://", "no host"),
    ("mqtt://h:99999", "port"),
    ("mqtt://h:abc", "port"),
    ("mqtt://h/x", "path"),
    ("mqtt://[::1", "broker URL"),
    ("mqtt://u:pw@", "no host"),
    ("mqtt://a%20b", "host"),
]

# ---------------------------------------------------------------- odd files for every file option

ODD_FILES: list[tuple[str, FileContent | None, str]] = [
    ("missing", None, "file not found"),
    ("folder", FOLDER, "is a directory"),
    ("loop", LOOP, "symbolic link loop"),
    ("fifo", FIFO, "FIFO"),
    ("through-a-file", b"", "is a file, not a directory"),
]

FILE_OPTIONS: list[tuple[str, ...]] = [
    ("config", "check"),
    ("simulate", "--plan"),
    ("simulate", "--config"),
    ("simulate", "--trace"),
]


def _odd_file_cases() -> list[Case]:
    cases: list[Case] = []
    for option in FILE_OPTIONS:
        for name, content, expect in ODD_FILES:
            files: dict[str, FileContent] = {} if content is None else {"f": content}
            target = "f/x.toml" if name == "through-a-file" else "f"
            cases.append(Case(f"{'-'.join(option)}-{name}", (*option, target), expect, files))
        cases.append(Case(f"{'-'.join(option)}-dev-zero", (*option, "/dev/zero"), "is a device"))
    cases.append(Case("trace-too-big", ("simulate", "--trace", "big"), "the limit is 64 MiB", {"big": HUGE_CSV}))
    cases.append(Case("plan-too-big", ("config", "check", "big"), "the limit is 1 MiB", {"big": HUGE_TOML}))
    return cases


_NO_KEYS = {"empty", "comment-only"}


def _cases() -> list[Case]:
    cases: list[Case] = []
    for name, text, expect in BAD_PLANS:
        checked = "empty file" if name in _NO_KEYS else expect  # config check judges no keys as no kind at all
        cases.append(Case(f"check-plan-{name}", ("config", "check", "plan.toml"), checked, {"plan.toml": text}))
    for name, text, expect in BAD_PLANS[::3]:  # every third: the same reader, through another command
        cases.append(Case(f"simulate-plan-{name}", ("simulate", "--plan", "plan.toml"), expect, {"plan.toml": text}))
    for name, text, expect in BAD_PLANS[:3]:
        push = ("therapist", "plan", "push", "--device", "d1", "--file", "plan.toml", "--key", "k.key")
        cases.append(Case(f"push-plan-{name}", (*push, "--broker", "mqtt://127.0.0.1:1"), expect, {"plan.toml": text}))
    for name, text, expect in BAD_DEVICES:
        cases.append(Case(f"check-device-{name}", ("config", "check", "device.toml"), expect, {"device.toml": text}))
    for name, text, expect in BAD_DEVICES[::3]:
        cases.append(Case(f"simulate-config-{name}", ("simulate", "--config", "device.toml"), expect,
                          {"device.toml": text}))
    for name, text, expect in BAD_PROFILES:
        cases.append(Case(f"check-profile-{name}", ("config", "check", "profile.toml"), expect, {"profile.toml": text}))
    for name, text, expect in BAD_TRACES:
        cases.append(Case(f"trace-{name}", ("simulate", "--trace", "t.csv"), expect, {"t.csv": text}))
    for url, expect in BAD_URLS:
        cases.append(Case(f"simulate-broker-{url}", ("simulate", "--broker", url), expect))
    for url, expect in BAD_URLS[:3]:
        cases.append(Case(f"run-broker-{url}", ("run", "--simulate", "--broker", url), expect))
        cases.append(Case(f"plan-show-broker-{url}", ("therapist", "plan", "show", "--device", "d1", "--broker", url),
                          expect))
    cases.extend(_odd_file_cases())
    cases.extend(OPTION_CASES)
    return cases


def _device_store_bytes() -> bytes:
    """The bytes of a device's own store (``presspoint.sqlite3``): what ``--db`` must not be confused with."""
    import sqlite3
    import tempfile
    from pathlib import Path

    from firmware.storage.database import LocalDb

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "presspoint.sqlite3"
        LocalDb(path).close()
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        return path.read_bytes()


PUSH = ("therapist", "plan", "push", "--device", "d1", "--file", "plan.toml", "--key", "k.key",
        "--broker", "mqtt://127.0.0.1:1")
BAD_DBS: list[tuple[str, FileContent, str]] = [
    ("text", b"this is not sqlite\n" * 10, "not a presspoint therapist database"),
    ("random-bytes", bytes(range(256)) * 8, "not a presspoint therapist database"),
    ("folder", FOLDER, "is a directory"),
    ("device-store", _device_store_bytes(), "is a device's own store"),
]
DB_COMMANDS: list[tuple[str, ...]] = [
    ("therapist", "sessions", "--db", "x.db"),
    ("therapist", "report", "s1", "--db", "x.db", "--out", "r.png"),
    ("therapist", "ppt", "--db", "x.db"),
    ("therapist", "collect", "--db", "x.db", "--broker", "mqtt://127.0.0.1:1", "--duration", "5"),
]
STATE_DIRS: list[tuple[str, bytes, dict[str, FileContent], str]] = [
    ("a-file", b'state_dir = "sf"', {"sf": b""}, "is a file, not a directory"),
    ("below-a-file", b'state_dir = "sf/state"', {"sf": b""}, "is below sf, which is a file"),
    ("unwritable", b'state_dir = "/proc/1/state"', {}, "/proc/1 is not writable"),
]


def _option_cases() -> list[Case]:
    cases = [
        Case("schema-out-onto-a-file", ("config", "schema", "--out", "passwd"), "--out passwd: is a file",
             {"passwd": b"root:x:0:0\n"}),
        Case("schema-out-missing-folder", ("config", "schema", "--out", "nowhere/schemas"),
             "folder nowhere does not exist"),
        Case("run-motor-log-nowhere", ("run", "--simulate", "--motor-log", "/nonexistent/x"), "--motor-log"),
        Case("run-motor-log-folder", ("run", "--simulate", "--motor-log", "f"), "--motor-log f: is a directory",
             {"f": FOLDER}),
        Case("calibrate-mass-inf", ("calibrate", "--known-mass", "inf"), "--known-mass"),
        Case("calibrate-mass-nan", ("calibrate", "--known-mass", "nan"), "--known-mass"),
        Case("calibrate-mass-huge", ("calibrate", "--known-mass", "1e9"), "--known-mass"),
        Case("run-sessions-negative", ("run", "--simulate", "--sessions", "-1"), "--sessions"),
        Case("run-press-at-negative", ("run", "--simulate", "--press-at", "-5"), "--press-at"),
        Case("run-press-at-nan", ("run", "--simulate", "--press-at", "nan"), "--press-at"),
        Case("run-flush-timeout-inf", ("run", "--simulate", "--flush-timeout", "inf"), "--flush-timeout"),
        Case("watch-duration-nan", ("therapist", "watch", "--device", "d1", "--broker", "mqtt://127.0.0.1:1",
                                    "--duration", "nan"), "--duration"),
    ]
    for value in ("-1", "nan", "0", "1e300"):
        cases.append(Case(f"push-timeout-{value}", (*PUSH, "--timeout", value), "--timeout", {"plan.toml": GOOD_PLAN}))
    for value in (str(2**60), "0"):
        cases.append(Case(f"push-version-{value}", (*PUSH, "--version", value), "--version", {"plan.toml": GOOD_PLAN}))
    for name, line, files, expect in STATE_DIRS:
        device = {"device.toml": b"[storage]\n" + line + b"\n", **files}
        cases.append(Case(f"run-state-dir-{name}", ("run", "--simulate", "--config", "device.toml"), expect, device))
        cases.append(Case(f"check-state-dir-{name}", ("config", "check", "device.toml"), expect, device))
    for command in DB_COMMANDS:
        for name, content, expect in BAD_DBS:
            cases.append(Case(f"{command[1]}-db-{name}", command, f"x.db: {expect}", {"x.db": content}))
    return cases


OPTION_CASES: list[Case] = _option_cases()

CASES: list[Case] = _cases()
