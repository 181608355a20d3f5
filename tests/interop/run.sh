#!/usr/bin/env bash
# Cross-language check: generates a Python client from proto/ alone, starts `closeloop up` on
# a scratch data folder and free ports (opportunities on the base port, contracts-and-payments on
# the next one, handoff on the one after, account-management on the last), and runs the client
# against all four with a token per role it plays (salesperson, sales manager, finance, account
# manager, operations). Needs python3 and network
# access to PyPI (the packages go into a virtualenv under target/).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/interop-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# grpcio-status and googleapis-common-protos decode the google.rpc error details, which proto/
# does not define; one install lets pip pick versions that agree on grpcio and protobuf.
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "grpcio-tools>=1.60,<2" "grpcio-status>=1.60,<2" "googleapis-common-protos>=1.60,<2"

work=$(mktemp -d)
trap 'kill "$up_pid" 2>/dev/null || true; wait "$up_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/stubs"
"$venv/bin/python" -m grpc_tools.protoc -I proto --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
    $(find proto -name '*.proto' | sort)
find "$work/stubs" -type d -exec touch {}/__init__.py \;

cargo build --locked --quiet --bin closeloop
closeloop=target/debug/closeloop
# `closeloop up` takes one port per service from the base port: find a free one whose next
# ones (one per further service) are free too.
services=4
port=$("$venv/bin/python" -c '
import socket, sys
n = int(sys.argv[1])
for _ in range(100):
    held = [socket.socket() for _ in range(n)]
    try:
        held[0].bind(("127.0.0.1", 0)); p = held[0].getsockname()[1]
        for i in range(1, n):
            held[i].bind(("127.0.0.1", p + i))
        print(p); break
    except (OSError, OverflowError):
        pass
    finally:
        for s in held:
            s.close()
else:
    raise SystemExit(f"no {n} consecutive free ports")
' "$services")
"$closeloop" up --data-dir "$work/data" --base-port "$port" > "$work/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 100); do
    grep -q "closeloop is up" "$work/up.log" && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.log"; echo "closeloop up exited"; exit 1; }
    sleep 0.1
done
grep -q "closeloop is up" "$work/up.log" || { cat "$work/up.log"; echo "closeloop up did not start"; exit 1; }

rep=$("$closeloop" token --data-dir "$work/data" --subject interop-rep --role sales_rep)
manager=$("$closeloop" token --data-dir "$work/data" --subject interop-manager --role sales_manager)
finance=$("$closeloop" token --data-dir "$work/data" --subject interop-finance --role finance)
account_manager=$("$closeloop" token --data-dir "$work/data" --subject interop-am --role account_manager)
operations=$("$closeloop" token --data-dir "$work/data" --subject interop-ops --role operations)
PYTHONPATH="$work/stubs" "$venv/bin/python" tests/interop/client.py \
    "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "127.0.0.1:$((port + 2))" "127.0.0.1:$((port + 3))" \
    "$rep" "$manager" "$finance" "$account_manager" "$operations"
