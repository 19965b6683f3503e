#!/usr/bin/env bash
# The local stack on a laptop, with nothing done by hand (make up / make down / make open).
#   prerequisites  before any slow step: the pinned Pulumi CLI, a container builder (docker or
#                  podman), kubectl, and a cluster. The Pulumi CLI and kind are installed into
#                  .tools/bin when missing (checked against the release's published checksums);
#                  with no usable kube context, a kind cluster named mlops-platform-local is
#                  created (pinned node image, Grafana on localhost:3000).
#   model-image    train the model (artifacts/model/<version>) and build the model-service image
#                  with that model in it (the local stack's artifact store is the image), load it
#                  into the cluster, and set the stack's modelServiceImageTag, modelVersion and
#                  kubeContext.
#   down           destroy the local stack, then delete the kind cluster if this script made it.
#   open           port-forward Grafana and Prometheus and print the URL and the admin login.
# Every missing piece gets one message saying how to get it; the script exits 2 on the first.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/versions.sh
. scripts/versions.sh
KIND_CLUSTER=mlops-platform-local
TOOLS=${TOOLS_DIR:-$PWD/.tools/bin}
STATE=${PULUMI_STATE_DIR:-$PWD/.pulumi-state}
STACK=${STACK:-local}
MODEL_SERVICE=${MODEL_SERVICE:-$PWD/.venv/bin/model-service}
ARTIFACTS=${ARTIFACTS_DIR:-$PWD/artifacts/model}
export PATH="$TOOLS:$PATH"

say() { echo "local-platform: $*"; }
fail() {
  echo "local-platform: $1" >&2
  shift
  for line in "$@"; do echo "  $line" >&2; done
  exit 2
}

platform() {
  local os arch
  os=$(uname -s | tr '[:upper:]' '[:lower:]')
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) fail "no prebuilt tools for this machine ($(uname -m))" "install the Pulumi CLI $PULUMI_VERSION and kind $KIND_VERSION yourself" ;;
  esac
  echo "$os $arch"
}

# download URL FILE: fetch with curl, failing on HTTP errors.
download() {
  command -v curl >/dev/null 2>&1 || return 1
  curl -fsSL --retry 2 -o "$2" "$1"
}

# verify FILE SUMS_FILE NAME: FILE's sha256 must be the one SUMS_FILE lists for NAME.
verify() {
  local expected actual
  expected=$(awk -v name="$3" '$2 == name || $2 == "*"name {print $1}' "$2" | head -n 1)
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ -n "$expected" ] && [ "$expected" = "$actual" ]
}

# A scratch folder for downloads, removed when the script ends.
scratch() {
  if [ -z "${SCRATCH:-}" ]; then
    SCRATCH=$(mktemp -d)
    trap 'rm -rf "$SCRATCH"' EXIT
  fi
  mkdir -p "$SCRATCH/$1"
  echo "$SCRATCH/$1"
}

# fetch_release WHAT BASE_URL FILE SUMS_FILE HOW_ELSE...: download FILE and the release's checksum
# list SUMS_FILE from BASE_URL into the scratch folder, check FILE against it, and leave its path
# in FETCHED; on failure say HOW_ELSE (what to do instead) and stop.
fetch_release() {
  local what=$1 base=$2 file=$3 sums=$4
  shift 4
  scratch "$what" >/dev/null
  local work=$SCRATCH/$what
  say "installing $what into $TOOLS"
  download "$base/$file" "$work/$file" && download "$base/$sums" "$work/$sums" ||
    fail "could not download $what ($base/$file)." "$@"
  verify "$work/$file" "$work/$sums" "$file" ||
    fail "the downloaded $what does not match its published checksum: not installed." \
      "Try again later, or install it by hand."
  FETCHED=$work/$file
}

install_pulumi() {
  local os arch name
  read -r os arch <<<"$(platform)"
  [ "$arch" = amd64 ] && arch=x64
  name="pulumi-v$PULUMI_VERSION-$os-$arch.tar.gz"
  fetch_release "the Pulumi CLI $PULUMI_VERSION" "https://github.com/pulumi/pulumi/releases/download/v$PULUMI_VERSION" \
    "$name" "pulumi-$PULUMI_VERSION-checksums.txt" \
    "Install it another way: brew install pulumi/tap/pulumi, or https://www.pulumi.com/docs/iac/download-install/" \
    "(any 3.x works; $PULUMI_VERSION is what CI uses), put it on PATH, and run make up again."
  mkdir -p "$TOOLS"
  tar -xzf "$FETCHED" -C "$(dirname "$FETCHED")"
  cp "$(dirname "$FETCHED")"/pulumi/* "$TOOLS"/
  say "installed $("$TOOLS/pulumi" version) (sha256 checked)"
}

install_kind() {
  local os arch name
  read -r os arch <<<"$(platform)"
  name="kind-$os-$arch"
  fetch_release "kind $KIND_VERSION" "https://github.com/kubernetes-sigs/kind/releases/download/v$KIND_VERSION" \
    "$name" "$name.sha256sum" \
    "Install it another way (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), or point" \
    "your kube context at a running cluster, and run make up again."
  mkdir -p "$TOOLS"
  install -m 755 "$FETCHED" "$TOOLS/kind"
  say "installed kind $KIND_VERSION (sha256 checked)"
}

builder() {
  if command -v docker >/dev/null 2>&1; then echo docker; elif command -v podman >/dev/null 2>&1; then echo podman; fi
}

cluster_usable() {
  kubectl config current-context >/dev/null 2>&1 && kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

create_kind_cluster() {
  command -v kind >/dev/null 2>&1 || install_kind
  if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    say "using the kind cluster $KIND_CLUSTER"
  else
    say "no usable kube context: creating the kind cluster $KIND_CLUSTER ($KIND_NODE_IMAGE)"
    kind create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" --config scripts/kind-local.yaml --wait 120s
    mkdir -p "$STATE"
    echo "$KIND_CLUSTER" >"$STATE/kind-cluster"
  fi
  kubectl config use-context "kind-$KIND_CLUSTER" >/dev/null
}

prerequisites() {
  # The quick checks first: nothing is downloaded or created before they pass.
  if [ "$STACK" = local ]; then
    [ -n "$(builder)" ] ||
      fail "no container builder: the model image is built locally." \
        "Install Docker (https://docs.docker.com/get-docker/) or Podman (https://podman.io/docs/installation)."
    "$(builder)" info >/dev/null 2>&1 ||
      fail "$(builder) is installed but not running." \
        "Start it (Docker Desktop, or: sudo systemctl start docker) and run make up again."
    command -v kubectl >/dev/null 2>&1 ||
      fail "kubectl is not installed." "Install it: https://kubernetes.io/docs/tasks/tools/ (or brew install kubectl)."
  fi
  if ! pulumi version 2>/dev/null | grep -qx "v$PULUMI_VERSION"; then
    if command -v pulumi >/dev/null 2>&1; then
      say "using $(pulumi version) (CI uses v$PULUMI_VERSION)"
    else
      install_pulumi
    fi
  fi
  [ "$STACK" = local ] || return 0
  if cluster_usable; then
    say "using the kube context $(kubectl config current-context)"
  else
    create_kind_cluster
  fi
}

# The stack's config, through the same backend and secrets set-up as up and preview.
config_set() {
  STACK=$STACK scripts/pulumi-stack.sh config-set "$@"
}

model_image() {
  local context version tag build
  context=$(kubectl config current-context)
  "$MODEL_SERVICE" train --output "$ARTIFACTS"
  version=$(basename "$(readlink -f "$ARTIFACTS/latest")")
  tag="local-$version"
  build=$(builder)
  say "building model-service:$tag with model $version"
  "$build" build -f model_service/Dockerfile -t "model-service:$tag-code" .
  printf 'FROM model-service:%s-code\nCOPY %s /opt/ml/model\n' "$tag" "$version" |
    "$build" build -t "model-service:$tag" -f - "$ARTIFACTS"
  case "$context" in
    kind-*) kind load docker-image "model-service:$tag" --name "${context#kind-}" ;;
    docker-desktop | rancher-desktop | orbstack) : ;; # these clusters run the builder's images
    minikube) minikube image load "model-service:$tag" ;;
    *) fail "the cluster of context $context cannot see local images." \
      "Push model-service:$tag to a registry it pulls from, then: pulumi config set modelServiceImageRepository <registry>/model-service" ;;
  esac
  config_set modelServiceImageTag "$tag"
  config_set modelVersion "$version"
  config_set kubeContext "$context"
}

down() {
  STACK=local scripts/pulumi-stack.sh destroy --yes
  if [ -s "$STATE/kind-cluster" ]; then
    local made
    made=$(cat "$STATE/kind-cluster")
    say "deleting the kind cluster $made (made by make up)"
    kind delete cluster --name "$made"
    rm -f "$STATE/kind-cluster"
  fi
}

open_ui() {
  local password
  password=$(STACK=$STACK scripts/pulumi-stack.sh output-secret grafanaAdminPassword)
  kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80 >/dev/null 2>&1 &
  kubectl -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090:9090 >/dev/null 2>&1 &
  trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
  echo "Grafana     http://localhost:3000  (user admin, password $password)"
  echo "Prometheus  http://localhost:9090"
  echo "Ctrl-C stops the port-forwards."
  wait
}

case "${1:-}" in
  prerequisites) prerequisites ;;
  model-image) model_image ;;
  down) down ;;
  open) open_ui ;;
  *) fail "usage: scripts/local-platform.sh prerequisites|model-image|down|open" ;;
esac
