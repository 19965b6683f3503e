#!/usr/bin/env bash
# Run `pulumi up|preview|destroy` on one stack (STACK, default `local`), setting up what it needs:
# the Pulumi CLI (pinned), a state backend and a secrets passphrase.
#   - backend: PULUMI_BACKEND_URL if set; otherwise the local stack uses a file backend in
#     PULUMI_STATE_DIR (default .pulumi-state/), and dev/prod refuse to guess (state must be
#     shared: see the README).
#   - secrets: the stack's secrets provider (`secretsprovider:` in Pulumi.<stack>.yaml, or
#     PULUMI_SECRETS_PROVIDER) when it is a KMS or vault provider: no passphrase is needed then.
#     Otherwise PULUMI_CONFIG_PASSPHRASE(_FILE) if set; otherwise the local stack generates a
#     random passphrase into .pulumi-state/passphrase (mode 600, git-ignored).
#   - policy: `preview` and `up` run the policy pack in policy/ (mandatory rules; `make` prepares
#     its virtualenv), as CI does.
set -euo pipefail
cd "$(dirname "$0")/.."

PULUMI_VERSION=3.272.0
action=${1:?usage: scripts/pulumi-stack.sh up|preview|destroy|refresh [pulumi flags...]}
shift
stack=${STACK:-local}
state_dir=${PULUMI_STATE_DIR:-$PWD/.pulumi-state}

if ! command -v pulumi >/dev/null 2>&1; then
  if [ ! -x "$HOME/.pulumi/bin/pulumi" ]; then
    echo "The Pulumi CLI is not installed: installing $PULUMI_VERSION with the official installer into ~/.pulumi"
    curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION"
  fi
  export PATH="$HOME/.pulumi/bin:$PATH"
fi

if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  if [ "$stack" != local ]; then
    echo "error: PULUMI_BACKEND_URL is not set. Stack '$stack' needs shared state, e.g." >&2
    echo "  export PULUMI_BACKEND_URL='s3://<state-bucket>?region=us-east-1'   (or log in to Pulumi Cloud)" >&2
    exit 2
  fi
  mkdir -p "$state_dir"
  export PULUMI_BACKEND_URL="file://$state_dir"
fi

# awskms://, gcpkms://, azurekeyvault://, hashivault://: the provider holds the key, no passphrase.
provider=${PULUMI_SECRETS_PROVIDER:-$(sed -n 's/^secretsprovider:[[:space:]]*//p' "Pulumi.$stack.yaml" 2>/dev/null | head -n 1)}
provider=${provider:-passphrase}
if [ "$provider" != passphrase ]; then
  :
elif [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  if [ "$stack" != local ]; then
    echo "error: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) for stack '$stack'," >&2
    echo "  or use a KMS secrets provider: pulumi stack change-secrets-provider 'awskms://alias/<key>'" >&2
    exit 2
  fi
  passphrase_file=$state_dir/passphrase
  if [ ! -s "$passphrase_file" ]; then
    mkdir -p "$state_dir"
    (umask 077 && head -c 32 /dev/urandom | base64 > "$passphrase_file")
    echo "Generated a passphrase for the local stack's secrets in $passphrase_file (keep it)."
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
fi

pulumi stack select --create "$stack" --secrets-provider "$provider"
if [ "$action" = up ] && [ "$stack" = local ]; then
  set -- --yes "$@"
fi
if [ "$action" = up ] || [ "$action" = preview ]; then
  set -- --policy-pack policy "$@"
fi
exec pulumi "$action" --stack "$stack" "$@"
