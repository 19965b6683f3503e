#!/usr/bin/env bash
# Run `pulumi up|preview|destroy` on one stack (STACK, default `local`), setting up what it needs:
# the Pulumi CLI (pinned; `make up` installs it), a state backend and a secrets passphrase.
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

# shellcheck source=scripts/versions.sh
. scripts/versions.sh
action=${1:?usage: scripts/pulumi-stack.sh up|preview|destroy|refresh|config-set KEY VALUE|output-secret NAME [pulumi flags...]}
shift
stack=${STACK:-local}
state_dir=${PULUMI_STATE_DIR:-$PWD/.pulumi-state}

# scripts/local-platform.sh installs the pinned CLI here when it is missing (make up runs it first).
export PATH="$PWD/.tools/bin:$HOME/.pulumi/bin:$PATH"
if ! command -v pulumi >/dev/null 2>&1; then
  echo "error: the Pulumi CLI is not installed: run make up (it installs $PULUMI_VERSION into .tools/bin)," >&2
  echo "  or install it: https://www.pulumi.com/docs/iac/download-install/" >&2
  exit 2
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
    echo "Generated a passphrase for the local stack's secrets in $passphrase_file (keep it)." >&2
  fi
  export PULUMI_CONFIG_PASSPHRASE_FILE="$passphrase_file"
fi

pulumi stack select --create "$stack" --secrets-provider "$provider"
case "$action" in
  config-set) exec pulumi config set "$1" "$2" --stack "$stack" ;;
  output-secret) exec pulumi stack output "$1" --show-secrets --stack "$stack" ;;
esac
if [ "$action" = up ] && [ "$stack" = local ]; then
  set -- --yes "$@"
fi
if [ "$action" = up ] || [ "$action" = preview ]; then
  set -- --policy-pack policy "$@"
fi
exec pulumi "$action" --stack "$stack" "$@"
