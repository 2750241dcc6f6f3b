#!/bin/sh
# Build /opt/lineinspect, the venv every image runs from, in two steps so that a code change
# reuses the dependency layer:
#   venv.sh deps EXTRAS [EXTRA_REQUIREMENT...]   the project's dependencies for EXTRAS only
#   venv.sh app                                  the project itself from /src, no dependencies
# Behind a TLS-inspecting proxy pass its CA as the BuildKit secret "ca"; it is read from
# /run/secrets/ca for this step only and never lands in a layer.
set -eu
VENV=/opt/lineinspect
if [ -f /run/secrets/ca ]; then
    export PIP_CERT=/run/secrets/ca
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1 PIP_ROOT_USER_ACTION=ignore
case "$1" in
deps)
    extras=$2
    shift 2
    # VENV_SYSTEM_SITE_PACKAGES=1 (Dockerfile.jetson): the venv also sees the
    # distribution's Python packages (its OpenCV built with GStreamer).
    if [ "${VENV_SYSTEM_SITE_PACKAGES:-0}" = 1 ]; then
        python3 -m venv --system-site-packages "$VENV"
    else
        python3 -m venv "$VENV"
    fi
    # An empty project with the real pyproject.toml: pip resolves exactly the declared
    # dependencies of the extras, and the source is not needed yet.
    mkdir -p /tmp/deps && cp /src/pyproject.toml /tmp/deps/ && touch /tmp/deps/README.md
    # setuptools/wheel in the venv: the app step then builds without fetching anything.
    "$VENV/bin/pip" install "setuptools>=68" wheel "/tmp/deps[$extras]" "$@"
    "$VENV/bin/pip" uninstall -y lineinspect
    rm -rf /tmp/deps
    ;;
app)
    "$VENV/bin/pip" install --no-deps --no-build-isolation --no-cache-dir /src
    rm -rf /src
    ;;
*)
    echo "venv.sh: deps EXTRAS | app" >&2
    exit 2
    ;;
esac
