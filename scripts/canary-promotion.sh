#!/usr/bin/env bash
# The deploy workflow's promotion step, after `pulumi up` on STACK: when the stack runs a canary
# (modelCanaryVersion), compare it with the stable track in the cluster's Prometheus every
# CANARY_CHECK_SECONDS (python -m delivery.canary) until it decides, for at most CANARY_MINUTES;
# then promote (modelVersion := the canary, no canary) or roll back (no canary), `pulumi up`, and
# record the decision in a pull request. A canary still undecided at the deadline is rolled back.
# Exit 0 after a promotion or without a canary, 1 after a rollback (the run shows red), 2 when the
# metrics cannot be read.
#
#   scripts/canary-promotion.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${1:?usage: scripts/canary-promotion.sh STACK}
python=${PYTHON:-.venv/bin/python}
minutes=${CANARY_MINUTES:-30}
every=${CANARY_CHECK_SECONDS:-60}
port=${PROMETHEUS_LOCAL_PORT:-9090}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

setting() {
  "$python" -c 'import sys; from delivery.model_registry import stack_setting; print(stack_setting(*sys.argv[1:]))' "$stack" "$1"
}

canary=$(setting modelCanaryVersion)
if [ -z "$canary" ]; then
  echo "no canary on $stack: nothing to promote"
  exit 0
fi

# Prometheus through a port-forward, with the stack's own kubeconfig.
pulumi stack output kubeconfig --show-secrets --stack "$stack" > "$work/kubeconfig"
export KUBECONFIG="$work/kubeconfig"
service=$(pulumi stack output prometheusService --stack "$stack")
kubectl -n "${service%%/*}" port-forward "svc/${service#*/}" "$port:9090" > "$work/port-forward.log" 2>&1 &
forward=$!
trap 'kill "$forward" 2>/dev/null || true; rm -rf "$work"' EXIT

deadline=$(($(date +%s) + minutes * 60))
decision=rollback
while :; do
  status=0
  "$python" -m delivery.canary --prometheus "http://127.0.0.1:$port" > "$work/decision.json" || status=$?
  case $status in
    0) decision=promote && break ;;
    3) decision=rollback && break ;;
    4) if [ "$(date +%s)" -ge "$deadline" ]; then
         echo "the canary $canary is still undecided after $minutes minutes: rolling it back"
         break
       fi
       sleep "$every" ;;
    *) echo "cannot read the canary's metrics on $stack" >&2 && exit 2 ;;
  esac
done
cat "$work/decision.json"

stable=$(setting modelVersion)
if [ "$decision" = promote ]; then
  pulumi config set modelVersion "$canary" --stack "$stack"
  title="Promote model $canary on $stack (canary healthy)"
else
  title="Roll back the canary $canary on $stack (stable $stable stays)"
fi
pulumi config rm modelCanaryVersion --stack "$stack"
pulumi up --yes --skip-preview --policy-pack policy --stack "$stack"

# The stack file now says what runs: record it where people review changes.
branch="canary/$stack-$canary-$decision"
git switch -c "$branch"
git -c user.name="github-actions[bot]" -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
  commit -am "$title"
git push origin "$branch"
gh pr create --base main --head "$branch" --title "$title" \
  --body "The deploy workflow compared the canary with the stable track in Prometheus: \`\`\`$(cat "$work/decision.json")\`\`\`"

[ "$decision" = promote ]
