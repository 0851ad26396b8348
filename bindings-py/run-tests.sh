#!/usr/bin/env bash
# Build and test the Python package: pip-installs the tools into the project's
# own virtual environment (target/ci-venv, see .ci/venv.sh; made from
# ${PYTHON:-python3}, never the user's Python itself), builds the CLI (the
# parity oracle) and the wheel, runs pytest (failing when no test ran) and
# type-checks the package and its stubs (mypy --strict + stubtest).
# Usage: bindings-py/run-tests.sh [extra pytest args]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
. "$root/.ci/venv.sh"
py="$PYTHON"

echo "== python tools"
"$py" -m pip install -q --disable-pip-version-check \
    "maturin>=1.7,<2" pytest pandas pyarrow polars mypy pandas-stubs \
    scikit-learn scipy aioquic
# Ray Data and Spark for the cluster-engine tests (tests/test_ray.py,
# test_spark.py: they fail, never skip, without them); large, so only when missing.
"$py" -c "import ray.data, pyspark.sql" 2>/dev/null \
    || "$py" -m pip install -q --disable-pip-version-check "ray[data]" "pyspark[sql]"

echo "== native CLI (parity oracle)"
(cd "$root" && cargo build -q -p pcaplens-cli --release)
export PCAPLENS_CLI="$root/target/release/pcaplens"

echo "== build + install the package (pip install ./bindings-py)"
"$py" -m pip install -q --disable-pip-version-check --no-build-isolation \
    --force-reinstall --no-deps "$here"

echo "== pytest"
# Run from the tests' directory so the installed package (not python/) is imported.
set +e
(cd "$here" && "$py" -m pytest "$@")
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "run-tests.sh: FAIL: pytest collected no tests" >&2
    exit 1
elif [ "$status" -ne 0 ]; then
    echo "run-tests.sh: FAIL: pytest exited with $status" >&2
    exit "$status"
fi

echo "== mypy --strict (package and stubs)"
(cd "$here" && "$py" -m mypy --strict python/pcaplens)
echo "== stubtest (stubs vs the compiled module)"
(cd /tmp && "$py" -m mypy.stubtest pcaplens._native)
echo "run-tests.sh: OK"
