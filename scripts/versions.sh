# The pinned versions of the tools the scripts install or use (sourced by them; CI's
# .github/actions/setup pins the same Pulumi CLI, a test checks).
PULUMI_VERSION=3.272.0
KIND_VERSION=0.33.0
# kind's own image for Kubernetes 1.34 (digest from the kind v0.33.0 release notes).
KIND_NODE_IMAGE=kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d
