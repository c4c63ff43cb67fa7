#!/bin/sh
# The bundled Hydra's clients, the ones devtools/stack/hydra.py registers for the local stack,
# plus the helm test's: created on install, replaced on every upgrade (`hydra update` replaces a
# whole client, so a changed value here reaches Hydra). Run by the chart's hook Job in the Hydra
# image; ORY_SDK_URL names Hydra's admin API, the secrets come from the chart's Secret.
set -eu

# Hydra is a Deployment of this release, ready before Helm runs the hook on `install --wait`,
# but not without --wait: poll its admin API until the Job's deadline.
until hydra list oauth2-clients --format json >/dev/null 2>&1; do
  echo "waiting for Hydra's admin API at $ORY_SDK_URL"
  sleep 2
done

register() {
  id=$1
  shift
  if hydra get oauth2-client "$id" --format json >/dev/null 2>&1; then
    hydra update oauth2-client "$id" --format json "$@" >/dev/null
    echo "updated $id"
  else
    hydra create oauth2-client --id "$id" --format json "$@" >/dev/null
    echo "created $id"
  fi
}

# The shop's front end: a public client (a browser holds no secret), so PKCE instead. Its
# redirect URIs: the values' and, as the local stack's, the issuer's /callback, which nothing
# serves: the smoke tests' sign-in reads the code off the redirect.
register shop-web \
  --token-endpoint-auth-method none \
  --grant-type authorization_code --response-type code \
  --scope openid,orders --audience order \
  --redirect-uri "$ISSUER/callback,$WEB_REDIRECT_URIS"
# The operator: the admin scope at every service.
register shop-admin --secret "$ADMIN_CLIENT_SECRET" \
  --grant-type client_credentials --scope admin --audience order,inventory,pricing
# The order service calling inventory and pricing (their OIDC_TRUSTED_CALLERS).
register "$ORDER_CLIENT_ID" --secret "$ORDER_CLIENT_SECRET" \
  --grant-type client_credentials --audience inventory,pricing
# `helm test`: a client whose own id is the customer it orders as (the token's subject).
register "$TEST_CLIENT_ID" --secret "$TEST_CLIENT_SECRET" \
  --grant-type client_credentials --scope orders --audience order
