#!/usr/bin/env bash
# Remove what systemd/install.sh installed.
#
#   sudo systemd/uninstall.sh            stop and disable the service, remove unit and venv;
#                                        keep /etc/presspoint, /var/lib/presspoint and the user
#   sudo systemd/uninstall.sh --purge    also remove config, session data, drop-ins and the user
#   systemd/uninstall.sh --dry-run       print every step, change nothing
#   systemd/uninstall.sh --root DIR      act on a tree staged with install.sh --root DIR
#
# Session data is kept by default: it may hold sessions not yet published over MQTT.
set -euo pipefail

ROOT="${DESTDIR:-}"
DRY_RUN=0
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
        --root=*) ROOT="${1#*=}"; shift ;;
        --dry-run|-n) DRY_RUN=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

ROOT="${ROOT%/}"
if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
    [ -d "$ROOT" ] || { echo "uninstall.sh: no such directory $ROOT" >&2; exit 1; }
fi
UNIT=presspoint.service
SVC_USER=presspoint
UNIT_DIR=/etc/systemd/system

at() { printf '%s%s' "$ROOT" "$1"; }
show() { printf '%s' "$1"; shift; printf ' %q' "$@"; printf '\n'; }
run() {
    if [ "$DRY_RUN" = 1 ]; then show "would run:" "$@"; else show "+" "$@"; "$@"; fi
}
live() {
    if [ "$DRY_RUN" = 1 ] || [ -n "$ROOT" ]; then show "would run:" "$@"; else show "+" "$@"; "$@"; fi
}
booted_with_systemd() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
note() { echo "uninstall.sh: $*"; }
# rm -rf only on the fixed paths below, never on an empty or relative one.
remove_tree() {
    case "$1" in /opt/presspoint|/etc/presspoint|/var/lib/presspoint|/var/lib/private/presspoint|"$UNIT_DIR/$UNIT.d") ;;
        *) echo "uninstall.sh: refusing to remove $1" >&2; exit 1 ;; esac
    if [ -e "$(at "$1")" ] || [ -L "$(at "$1")" ]; then run rm -rf -- "$(at "$1")"; fi
}

if [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    echo "uninstall.sh: run as root (sudo), or use --dry-run / --root DIR" >&2
    exit 1
fi
if [ "$DRY_RUN" = 1 ]; then note "dry run: nothing will be changed"; fi

# The service: stop (the runtime stores the session summary on SIGTERM), then disable.
if booted_with_systemd; then
    live systemctl disable --now "$UNIT" || true
elif [ -e "$(at "$UNIT_DIR/$UNIT")" ]; then
    if [ -n "$ROOT" ]; then
        run systemctl --root="$ROOT" disable "$UNIT"
    else
        live systemctl disable "$UNIT"
    fi
fi
if [ -e "$(at "$UNIT_DIR/$UNIT")" ]; then run rm -f -- "$(at "$UNIT_DIR/$UNIT")"; fi
remove_tree /opt/presspoint

if [ "$PURGE" = 1 ]; then
    remove_tree "$UNIT_DIR/$UNIT.d"
    remove_tree /etc/presspoint
    remove_tree /var/lib/presspoint
    remove_tree /var/lib/private/presspoint
    if [ -n "$ROOT" ] || getent passwd "$SVC_USER" >/dev/null 2>&1; then
        live userdel "$SVC_USER"
    fi
    if [ -n "$ROOT" ] || getent group "$SVC_USER" >/dev/null 2>&1; then
        live groupdel "$SVC_USER"
    fi
else
    note "kept /etc/presspoint (config) and /var/lib/presspoint (sessions, outbox); --purge removes them"
fi
if booted_with_systemd; then live systemctl daemon-reload; fi
note "done"
