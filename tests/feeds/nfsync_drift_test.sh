#!/bin/sh
# The netfilter sync against the real kernel: mode "drift" of nfsync_test.py
# (see its header). Runs in network namespaces it creates and removes.
. "$(dirname "$0")/nfsync_env.sh"
exec python3 "$NFSYNC_TEST" drift nft
