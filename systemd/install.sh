#!/usr/bin/env bash
# Install presspoint as a systemd service on Raspberry Pi OS (bookworm).
#
#   sudo systemd/install.sh [--start]           install on this Pi and enable the unit
#   systemd/install.sh --dry-run                print every step, change nothing
#   systemd/install.sh --root DIR [--no-venv]   stage the files under DIR (also: DESTDIR=DIR)
#
# What it does: a system user and group "presspoint" (member of "gpio" and "spi"), a venv in
# /opt/presspoint/venv with `pip install <source>[pi]`, /etc/presspoint/device.toml
# and plan.toml from config/defaults (never overwriting existing ones), the unit in
# /etc/systemd/system, enabled.  Re-running upgrades the code and keeps the config.
#
# With --root, files go under DIR and account changes (useradd, chgrp) are printed,
# not run; the unit is enabled with `systemctl --root`, which works offline.  Without
# systemd as PID 1 (a chroot, a container, CI) daemon-reload/start are skipped.
set -euo pipefail
umask 022

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --root DIR        install under DIR (default: $DESTDIR, else /)
  --dry-run         print what would be done, change nothing
  --src DIR         presspoint source tree (default: this script's repository)
  --python PY       interpreter for the venv (default: python3, must be >= 3.11)
  --package SPEC    what pip installs (default: "<src>[pi]"), e.g. a wheel path
  --pip-args ARGS   extra pip arguments, e.g. "--no-index --find-links /media/wheels"
  --device-id ID    device_id for a new device.toml (default: presspoint-<first 8 of /etc/machine-id>;
                    refused when ROOT has no machine id yet, e.g. an image before its first boot)
  --no-venv         skip the venv (config and unit only)
  --no-enable       do not enable the unit
  --start           (re)start the service now (needs systemd as PID 1)
EOF
}

ROOT="${DESTDIR:-}"
DRY_RUN=0
WITH_VENV=1
ENABLE=1
START=0
PYTHON=python3
PACKAGE=""
PIP_ARGS=""
DEVICE_ID=""
DEVICE_ID_GIVEN=0
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
        --root=*) ROOT="${1#*=}"; shift ;;
        --dry-run|-n) DRY_RUN=1; shift ;;
        --src) SRC="${2:?}"; shift 2 ;;
        --python) PYTHON="${2:?}"; shift 2 ;;
        --package) PACKAGE="${2:?}"; shift 2 ;;
        --pip-args) PIP_ARGS="${2?}"; shift 2 ;;
        --device-id) DEVICE_ID="${2?--device-id needs an id}"; DEVICE_ID_GIVEN=1; shift 2 ;;
        --no-venv) WITH_VENV=0; shift ;;
        --no-enable) ENABLE=0; shift ;;
        --start) START=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT="${ROOT%/}"                        # "/" and "" both mean the live system
if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
fi
UNIT=presspoint.service
SVC_USER=presspoint
GPIO_GROUP=gpio
SPI_GROUP=spi
PREFIX=/opt/presspoint
VENV="$PREFIX/venv"
CONF_DIR=/etc/presspoint
STATE_DIR=/var/lib/presspoint
UNIT_DIR=/etc/systemd/system
PACKAGE="${PACKAGE:-$SRC[pi]}"

at() { printf '%s%s' "$ROOT" "$1"; }    # a system path, inside --root

# Files under ROOT: done unless --dry-run.
show() { printf '%s' "$1"; shift; printf ' %q' "$@"; printf '\n'; }
run() {
    if [ "$DRY_RUN" = 1 ]; then show "would run:" "$@"; else show "+" "$@"; "$@"; fi
}
# The live system's accounts and services: only without --root and --dry-run.
live() {
    if [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ]; then show "would run:" "$@"; else show "+" "$@"; "$@"; fi
}
booted_with_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
# Accounts as seen by the system being installed (ROOT's files when staging).
has_account() {  # has_account passwd|group NAME
    if [ -n "$ROOT" ]; then grep -q "^$2:" "$(at "/etc/$1")" 2>/dev/null; else getent "$1" "$2" >/dev/null 2>&1; fi
}
note() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }
bad() { echo "install.sh: $*" >&2; exit 2; }  # bad input: nothing has been changed

[ -f "$SRC/pyproject.toml" ] || die "no pyproject.toml in $SRC (use --src)"
[ -f "$SRC/systemd/$UNIT" ] || die "no systemd/$UNIT in $SRC"
if [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or use --dry-run / --root DIR"
fi

# --- device id: decided before anything changes, unique per device or refused ------
# The default comes from ROOT's /etc/machine-id (32 hex digits, made by systemd at first
# boot).  An image before its first boot has none (or "uninitialized"), and a hostname
# is no identity (every Pi is "raspberrypi"): refuse rather than give many devices one id.
trim() {  # leading and trailing white space (a file's newline) off; inner spaces stay, to be refused
    local v="$1"
    v="${v#"${v%%[![:space:]]*}"}"
    printf '%s' "${v%"${v##*[![:space:]]}"}"
}
if [ "$DEVICE_ID_GIVEN" = 1 ]; then
    DEVICE_ID="$(trim "$DEVICE_ID")"
    [ -n "$DEVICE_ID" ] || bad "empty --device-id: give the id this device has on the broker"
elif [ ! -e "$(at "$CONF_DIR/device.toml")" ]; then
    machine_id="$(trim "$(head -c 64 "$(at /etc/machine-id)" 2>/dev/null || true)")"
    if [[ ! "$machine_id" =~ ^[0-9a-f]{32}$ ]]; then
        what="missing or empty"
        [ -z "$machine_id" ] || what="not a machine id (\"$machine_id\")"
        bad "no unique device id: $(at /etc/machine-id) is $what (an image before its first boot?);" \
            "pass --device-id ID, or run install.sh on the device after its first boot (see systemd/README.md)"
    fi
    DEVICE_ID="presspoint-${machine_id:0:8}"
fi
if [ -n "$DEVICE_ID" ] && [[ ! "$DEVICE_ID" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
    bad "bad --device-id \"$DEVICE_ID\": use 1-64 of A-Z a-z 0-9 _ -"
fi

if [ "$DRY_RUN" = 1 ]; then note "dry run: nothing will be changed"; fi
note "installing from $SRC into ${ROOT:-/}"

# --- account: the unit runs as presspoint with supplementary groups gpio and spi ---
if ! has_account group "$GPIO_GROUP"; then
    note "group $GPIO_GROUP missing (Raspberry Pi OS has it, with a udev rule for /dev/gpiochip*)"
    live groupadd --system "$GPIO_GROUP"
fi
if ! has_account group "$SPI_GROUP"; then
    note "group $SPI_GROUP missing (Raspberry Pi OS has it, with a udev rule for /dev/spidev*)"
    live groupadd --system "$SPI_GROUP"
fi
if ! has_account passwd "$SVC_USER"; then
    live useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "presspoint firmware" "$SVC_USER"
fi
live usermod --append --groups "$GPIO_GROUP,$SPI_GROUP" "$SVC_USER"

# --- code: a venv of its own, so Debian's Python packages are not touched -----------
if [ "$WITH_VENV" = 1 ]; then
    if [ "$DRY_RUN" = 0 ]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || die "$PYTHON is older than 3.11"
    fi
    if [ ! -x "$(at "$VENV")/bin/python" ]; then
        run "$PYTHON" -m venv "$(at "$VENV")"
    fi
    # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
    run "$(at "$VENV")/bin/python" -m pip install --upgrade $PIP_ARGS "$PACKAGE"
else
    note "skipping the venv (--no-venv)"
fi

# --- config: never overwrite what the admin (or `presspoint calibrate`) wrote ------
run install -d -m 0750 "$(at "$CONF_DIR")"
live chgrp "$SVC_USER" "$CONF_DIR"
if [ -e "$(at "$CONF_DIR/plan.toml")" ]; then
    note "keeping existing $CONF_DIR/plan.toml"
else
    run install -m 0640 "$SRC/config/defaults/plan.toml" "$(at "$CONF_DIR/plan.toml")"
    live chgrp "$SVC_USER" "$CONF_DIR/plan.toml"
fi
if [ -e "$(at "$CONF_DIR/device.toml")" ]; then
    note "keeping existing $CONF_DIR/device.toml"
else
    # The defaults describe the simulator; on the device: the HX711 over SPI, state in
    # the StateDirectory, the installed plan, and an id unique on the broker.
    note "writing $CONF_DIR/device.toml from config/defaults/device.toml (device_id $DEVICE_ID)"
    if [ "$DRY_RUN" = 1 ]; then
        echo "would run: sed -E ... $SRC/config/defaults/device.toml > $(at "$CONF_DIR/device.toml")"
    else
        sed -E \
            -e "s|^(device_id[[:space:]]*=[[:space:]]*)\"[^\"]*\"|\\1\"$DEVICE_ID\"|" \
            -e 's|^(backend[[:space:]]*=[[:space:]]*)"simulated"|\1"hx711-spi"|' \
            -e "s|^(state_dir[[:space:]]*=[[:space:]]*)\"[^\"]*\"|\\1\"$STATE_DIR\"|" \
            -e "s|^#[[:space:]]*(plan_file[[:space:]]*=[[:space:]]*)\"[^\"]*\"|\\1\"$CONF_DIR/plan.toml\"|" \
            -e "s|^#[[:space:]]*(plan_key_file[[:space:]]*=[[:space:]]*)\"[^\"]*\"|\\1\"$CONF_DIR/plan.key\"|" \
            -e "s|^(# Device config with every default spelled out\\.).*|\\1 Installed by systemd/install.sh.|" \
            "$SRC/config/defaults/device.toml" > "$(at "$CONF_DIR/device.toml.new")"
        chmod 0640 "$(at "$CONF_DIR/device.toml.new")"
        mv "$(at "$CONF_DIR/device.toml.new")" "$(at "$CONF_DIR/device.toml")"
    fi
    live chgrp "$SVC_USER" "$CONF_DIR/device.toml"
fi
if [ "$WITH_VENV" = 1 ] && [ "$DRY_RUN" = 0 ]; then
    "$(at "$VENV")/bin/presspoint" config check "$(at "$CONF_DIR/device.toml")" \
        || note "WARNING: $CONF_DIR/device.toml does not validate; the service will not start"
fi

# --- unit: ours to overwrite; local changes belong in drop-ins ----------------------
run install -d -m 0755 "$(at "$UNIT_DIR")"
run install -m 0644 "$SRC/systemd/$UNIT" "$(at "$UNIT_DIR/$UNIT")"
if booted_with_systemd; then
    live systemctl daemon-reload
fi
if [ "$ENABLE" = 1 ]; then
    if [ -n "$ROOT" ]; then
        run systemctl --root="$ROOT" enable "$UNIT"
    else
        live systemctl enable "$UNIT"   # works offline too (image builds in a chroot)
    fi
fi
if [ "$START" = 1 ]; then
    if booted_with_systemd; then
        live systemctl restart "$UNIT"
    else
        note "not booted with systemd here: would run: systemctl restart $UNIT"
    fi
fi

cat <<EOF
install.sh: done.  Next:
  calibrate (service stopped):  sudo systemctl stop presspoint
      sudo $VENV/bin/presspoint calibrate --config $CONF_DIR/device.toml
  MQTT settings:                sudoedit $CONF_DIR/device.toml
  start and watch:              sudo systemctl start presspoint; journalctl -fu presspoint
EOF
