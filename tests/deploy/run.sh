#!/usr/bin/env bash
# The deployment checks CI runs without a container engine (see tests/deploy/check.py and
# tests/deploy/compose.py):
#
#   run.sh check           compose schema, both kustomize overlays against the Kubernetes
#                          schemas, the promises of the manifests, the Dockerfile's build command
#   run.sh build           the release build: the Dockerfile's command, run here
#   run.sh compose [BIN]   docker-compose.yml's services as plain processes, through the loop
#                          (BIN: target/release/closeloop, what `build` made)
#
# Needs python3 with network access to PyPI (the tools go into a virtualenv under target/),
# kubectl for `check`, psql and PostgreSQL on 127.0.0.1:5432 (user postgres, trust) for
# `compose`.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The one release build: deploy/Dockerfile must run exactly this (`check` verifies it).
release_build=(cargo build --release --locked)

fail() { printf 'deploy checks: %s\n' "$*" >&2; exit 1; }

venv=target/deploy-venv
setup() {
    command -v python3 >/dev/null || fail "python3 is required"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    # check-jsonschema vendors the Compose specification's schema; kubernetes-validate the
    # Kubernetes schemas; grpcio* run the stand-in collector and the Python client.
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "check-jsonschema>=0.29,<1" "kubernetes-validate>=1.32,<2" "pyyaml>=6,<7" \
        "grpcio-tools>=1.60,<2" "grpcio-status>=1.60,<2" "googleapis-common-protos>=1.60,<2"
}

case "${1:-}" in
check)
    command -v kubectl >/dev/null || fail "kubectl is required to render the kustomize overlays"
    setup
    PATH="$PWD/$venv/bin:$PATH" "$venv/bin/python" tests/deploy/check.py "${release_build[@]}"
    ;;
build)
    "${release_build[@]}"
    ;;
compose)
    binary="${2:-target/release/closeloop}"
    [ -x "$binary" ] || fail "$binary is missing: run \`$0 build\` first"
    command -v psql >/dev/null || fail "psql is required"
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 ||
        fail "PostgreSQL is not reachable on 127.0.0.1:5432 as user postgres"
    setup
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$venv/bin/python" -m grpc_tools.protoc -I proto --python_out="$work" --grpc_python_out="$work" \
        $(find proto -name '*.proto' | sort)
    find "$work" -type d -exec touch {}/__init__.py \;
    "$venv/bin/python" tests/deploy/compose.py "$binary" "$work"
    ;;
*)
    fail "usage: $0 check | build | compose [BINARY]"
    ;;
esac
