#!/bin/sh
# The netfilter sync against the real kernel: mode "load" of nfsync_test.py
# (see its header). Runs in network namespaces it creates and removes.
. "$(dirname "$0")/nfsync_env.sh"
exec python3 "$NFSYNC_TEST" load nft
