#!/bin/sh
# The ipset backend: the same load and delta tests, checked with the real
# `ipset save`. Runs in network namespaces it creates and removes.
. "$(dirname "$0")/nfsync_env.sh"
python3 "$NFSYNC_TEST" load ipset
exec python3 "$NFSYNC_TEST" delta ipset
