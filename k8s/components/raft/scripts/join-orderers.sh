#!/bin/sh
# Join every orderer to the application channel through its admin API (osnadmin); waits for each
# orderer to answer and skips those that already serve the channel. TDSES_* come from `tdses k8s render`.
set -eu
tls="--ca-file $TDSES_ORDERER_TLS_ROOT --client-cert $TDSES_ADMIN_TLS_CERT --client-key $TDSES_ADMIN_TLS_KEY"
for endpoint in $TDSES_ORDERER_ADMIN_ENDPOINTS; do
    # shellcheck disable=SC2086
    until osnadmin channel list -o "$endpoint" $tls >/tmp/channels; do
        echo "$endpoint does not answer yet; retrying in 5s" >&2
        sleep 5
    done
    if grep -q "\"name\": *\"$TDSES_CHANNEL\"" /tmp/channels; then
        echo "$endpoint: already serves $TDSES_CHANNEL"
        continue
    fi
    # shellcheck disable=SC2086
    osnadmin channel join -o "$endpoint" --channelID "$TDSES_CHANNEL" --config-block "$TDSES_CHANNEL_BLOCK" $tls
done
