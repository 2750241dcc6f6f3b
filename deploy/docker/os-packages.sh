#!/bin/sh
# The run-time OS packages of every lineinspect image (Debian, Ubuntu, CUDA and L4T bases):
# Python from the distribution, so the base image decides the Python version (>= 3.10).
# Arguments: further packages for one image (Dockerfile.jetson: OpenCV with GStreamer).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
# ca-certificates: TLS to the broker and InfluxDB; libglib2.0-0: OpenCV's video I/O;
# tini: PID 1 that forwards SIGTERM and reaps the collector's worker process.
apt-get install -y --no-install-recommends \
    python3 python3-venv ca-certificates libglib2.0-0 tini "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
