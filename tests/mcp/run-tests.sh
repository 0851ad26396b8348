#!/usr/bin/env bash
# End-to-end tests of `pcaplens mcp` with the official Python MCP client:
# installs the client (and jsonschema, tiktoken, pytest) into the project's
# virtual environment (target/ci-venv, see .ci/venv.sh), builds the release
# CLI (a 1,000,000-packet capture is analysed), runs pytest (failing when no
# test ran). Usage: tests/mcp/run-tests.sh [extra pytest args]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/.ci/venv.sh"
py="$PYTHON"

echo "== python tools (mcp client SDK 2.x, jsonschema, tiktoken, pytest)"
"$py" -m pip install -q --disable-pip-version-check "mcp>=2,<3" jsonschema tiktoken pytest

echo "== native CLI (release)"
(cd "$root" && cargo build -q -p pcaplens-cli --release --locked)
export PCAPLENS_CLI="${PCAPLENS_CLI:-$root/target/release/pcaplens}"

echo "== pytest"
set +e
(cd "$here" && "$py" -m pytest -p no:cacheprovider -q -s "$@" test_mcp_server.py)
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "tests/mcp/run-tests.sh: FAIL: pytest collected no tests" >&2
    exit 1
elif [ "$status" -ne 0 ]; then
    echo "tests/mcp/run-tests.sh: FAIL: pytest exited with $status" >&2
    exit "$status"
fi
echo "tests/mcp/run-tests.sh: OK"
