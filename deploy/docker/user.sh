#!/bin/sh
# The user every lineinspect image runs as: uid/gid 10001, no login shell, owning only its
# state directory (outbox, embedded store). Config is mounted read-only at /etc/lineinspect.
set -eu
groupadd --system --gid 10001 lineinspect
useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/lineinspect \
    --shell /usr/sbin/nologin lineinspect
install -d -o 10001 -g 10001 -m 0750 /var/lib/lineinspect
install -d -m 0755 /etc/lineinspect
