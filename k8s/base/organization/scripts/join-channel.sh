#!/bin/sh
# Join this organization's peers to the channel; run in the CLI pod, after the orderers serve the channel:
#   kubectl -n tdses-<org> exec deploy/cli -- join-channel.sh [--create]
# --create (Kafka ordering only, once, by one organization): create the channel from its creation
# transaction first; with Raft the orderers' join Job has already created it.
# The TDSES_* variables are rendered from the topology by `tdses k8s render`. Idempotent.
set -eu
block=/tmp/$TDSES_CHANNEL.block
orderer="-o $TDSES_ORDERER --tls --cafile $TDSES_ORDERER_TLS_ROOT"

if [ "${1:-}" = --create ]; then
    if [ "$TDSES_ORDERER_TYPE" != kafka ]; then
        echo "--create is for Kafka ordering; with Raft the orderers' join-channel Job creates the channel" >&2
        exit 2
    fi
    # shellcheck disable=SC2086
    peer channel fetch 0 "$block" -c "$TDSES_CHANNEL" $orderer 2>/dev/null \
        || peer channel create -c "$TDSES_CHANNEL" -f "$TDSES_CHANNEL_TX" --outputBlock "$block" $orderer
fi

# shellcheck disable=SC2086
until peer channel fetch 0 "$block" -c "$TDSES_CHANNEL" $orderer; do
    echo "channel $TDSES_CHANNEL not served yet; retrying in 5s" >&2
    sleep 5
done
for address in $TDSES_PEERS; do
    if CORE_PEER_ADDRESS=$address peer channel list 2>/dev/null | grep -qx "$TDSES_CHANNEL"; then
        echo "$address: already joined $TDSES_CHANNEL"
        continue
    fi
    CORE_PEER_ADDRESS=$address peer channel join -b "$block"
done
