#!/bin/sh
# Install this organization's chaincode package on its peers and approve the definition; run in the CLI pod:
#   kubectl -n tdses-<org> exec deploy/cli -- deploy-chaincode.sh [--commit]
# --commit (once, by the founder organization, after every organization installed and approved): commit the
# definition, endorsed by one peer of every organization, then call the chaincode's Init with the SToken
# genesis (network-config/stoken.yaml, rendered into TDSES_STOKEN_INIT), which only the founder organization's
# admin may call. The TDSES_* variables are rendered by `tdses k8s render`. Idempotent: what is done already
# is skipped.
set -eu
if [ "${1:-}" = --commit ] && [ "$CORE_PEER_LOCALMSPID" != "$TDSES_FOUNDER_MSP" ]; then
    echo "--commit is the founder organization's ($TDSES_FOUNDER_MSP): its admin calls Init; run it in its namespace" >&2
    exit 2
fi
orderer="-o $TDSES_ORDERER --tls --cafile $TDSES_ORDERER_TLS_ROOT"
# The endorsement policy is written without spaces (tdses.fabric.configtx.endorsement_policy), so it splits as one word.
definition="--channelID $TDSES_CHANNEL --name $TDSES_CHAINCODE_NAME --version $TDSES_CHAINCODE_VERSION --sequence $TDSES_CHAINCODE_SEQUENCE --signature-policy $TDSES_ENDORSEMENT_POLICY"

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

    # Init is set-once: a second one is refused with ALREADY_EXISTS, which means it is done.
    # shellcheck disable=SC2086
    if answer=$(peer chaincode invoke $orderer -C "$TDSES_CHANNEL" -n "$TDSES_CHAINCODE_NAME" $endorsers \
            -c "$TDSES_STOKEN_INIT" --waitForEvent 2>&1); then
        echo "initialized the SToken supply"
    else
        case $answer in
            *ALREADY_EXISTS:*) echo "the SToken supply is initialized already" ;;
            *) echo "$answer" >&2; exit 1 ;;
        esac
    fi
fi
