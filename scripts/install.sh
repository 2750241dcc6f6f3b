#!/usr/bin/env bash
# Install what lineinspect's tests and tools need on Debian/Ubuntu. Safe to run again: each step
# is skipped when already done, so scripts/test.sh calls it on every run.
#
#   1. apt packages listed in scripts/apt-packages.txt (the real Mosquitto, InfluxDB, ... that
#      the tests start): installed when run as root; otherwise the missing ones are named with
#      the sudo command, and the script exits non-zero.
#   2. a virtual environment (.venv) with Python >= 3.10.
#   3. torch (pinned; see LINEINSPECT_TORCH_SPEC) and then the project, editable, with extras.
#
# Environment:
#   LINEINSPECT_VENV         venv directory (default: <repo>/.venv)
#   LINEINSPECT_PYTHON       interpreter that creates the venv (default: python3)
#   LINEINSPECT_EXTRAS       extras to install (default: edge,cloud,train,dev)
#   LINEINSPECT_TORCH_SPEC   pip requirement(s) for torch, installed first in their own pip call
#                            (default: "torch==2.14.1 torchvision==0.29.1"; empty: skip). Pinned
#                            because an unpinned torch resolves to a newer, much larger build than
#                            the one ultralytics is tested with; set it for other machines (e.g.
#                            a CPU-only or CUDA wheel spec, or a JetPack wheel path).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
APT_LIST="$ROOT/scripts/apt-packages.txt"
VENV="${LINEINSPECT_VENV:-$ROOT/.venv}"
PYTHON="${LINEINSPECT_PYTHON:-python3}"
EXTRAS="${LINEINSPECT_EXTRAS:-edge,cloud,train,dev}"
TORCH_SPEC="${LINEINSPECT_TORCH_SPEC-torch==2.14.1 torchvision==0.29.1}"

log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

# -- 1. apt packages -------------------------------------------------------------------------
wanted_packages() {
    # One package per line; '#' starts a comment.
    [ -f "$APT_LIST" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$APT_LIST" | grep -v '^$' || true
}

missing=()
while IFS= read -r pkg; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done < <(command -v dpkg-query >/dev/null && wanted_packages)

if ! command -v dpkg-query >/dev/null; then
    log "no dpkg here: not a Debian/Ubuntu system; install the packages in $APT_LIST yourself"
elif ((${#missing[@]})); then
    if [ "$(id -u)" -eq 0 ]; then
        log "apt: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        cat >&2 <<EOF
[install] These system packages are missing (the tests start real servers from them):
[install]     ${missing[*]}
[install] Install them as root, then run this again:
[install]     sudo apt-get install -y --no-install-recommends ${missing[*]}
[install] or let this script do it:
[install]     sudo bash scripts/install.sh
EOF
        exit 2
    fi
fi

# npm (the cross-origin WHEP test installs the whip-whep client with it) comes with Node.js on
# many machines; Debian's own npm package conflicts with such a Node.js, so it is installed only
# when no npm is on PATH.
if ! command -v npm >/dev/null; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        log "apt: installing npm"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
    else
        die "npm is missing (the cross-origin WHEP test needs it): install Node.js with npm"
    fi
fi

# -- 2. virtual environment ------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python >= 3.10"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$("$PYTHON" -V 2>&1) is too old: lineinspect needs Python >= 3.10"
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV" \
        || die "could not create the venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$VENV has $("$VENV/bin/python" -V 2>&1); remove it and use Python >= 3.10"

# -- 3. Python packages ----------------------------------------------------------------------
# The stamp records what was installed; pip runs again only when one of the inputs changes
# (or the project no longer imports, e.g. the venv was moved).
STAMP="$VENV/.lineinspect-install.stamp"
key="$(
    {
        cat "$ROOT/pyproject.toml"
        [ -f "$APT_LIST" ] && cat "$APT_LIST"
        printf '%s\n' "$EXTRAS" "$TORCH_SPEC" "$ROOT"
        "$VENV/bin/python" -V 2>&1
    } | sha256sum | cut -d' ' -f1
)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] \
    && "$VENV/bin/python" -c 'import lineinspect, edge, cloud' 2>/dev/null; then
    log "python packages up to date (delete $STAMP to force)"
    exit 0
fi

began=$(date +%s)
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check)
if [ -n "$TORCH_SPEC" ]; then
    log "pip: $TORCH_SPEC"
    # shellcheck disable=SC2086  # the spec is a list of requirements
    "${pip[@]}" -q $TORCH_SPEC
fi
log "pip: -e .[$EXTRAS]"
# Never uninstall opencv-python or opencv-python-headless here: ultralytics pulls the former,
# the edge extra the latter, and they share files; removing one breaks cv2 for the other.
"${pip[@]}" -q -e "$ROOT[$EXTRAS]"
printf '%s\n' "$key" >"$STAMP"
log "python packages installed in $(($(date +%s) - began)) s"
