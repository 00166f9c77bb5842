#!/bin/sh
# Install this organization's chaincode package on its peers and approve the definition; run in the CLI pod:
#   kubectl -n tdses-<org> exec deploy/cli -- deploy-chaincode.sh [--commit]
# --commit (once, by one organization, after a majority approved): commit the definition, endorsed by
# one peer of every organization. The TDSES_* variables are rendered by `tdses k8s render`. Idempotent.
set -eu
orderer="-o $TDSES_ORDERER --tls --cafile $TDSES_ORDERER_TLS_ROOT"
definition="--channelID $TDSES_CHANNEL --name $TDSES_CHAINCODE_NAME --version $TDSES_CHAINCODE_VERSION --sequence $TDSES_CHAINCODE_SEQUENCE"

for address in $TDSES_PEERS; do
    if CORE_PEER_ADDRESS=$address peer lifecycle chaincode queryinstalled | grep -q "$TDSES_PACKAGE_ID"; then
        echo "$address: $TDSES_PACKAGE_ID already installed"
        continue
    fi
    CORE_PEER_ADDRESS=$address peer lifecycle chaincode install "$TDSES_CHAINCODE_PACKAGE"
done

# shellcheck disable=SC2086
if peer lifecycle chaincode checkcommitreadiness $definition --output json | grep -q "\"$CORE_PEER_LOCALMSPID\": true"; then
    echo "$CORE_PEER_LOCALMSPID has approved already"
else
    peer lifecycle chaincode approveformyorg $orderer $definition --package-id "$TDSES_PACKAGE_ID" --waitForEvent
fi

if [ "${1:-}" = --commit ]; then
    endorsers=""
    for pair in $TDSES_ENDORSERS; do  # address=tls-root-file, one peer per organization
        endorsers="$endorsers --peerAddresses ${pair%%=*} --tlsRootCertFiles ${pair#*=}"
    done
    # shellcheck disable=SC2086
    peer lifecycle chaincode querycommitted --channelID "$TDSES_CHANNEL" --name "$TDSES_CHAINCODE_NAME" 2>/dev/null \
        || peer lifecycle chaincode commit $orderer $definition $endorsers --waitForEvent
fi
