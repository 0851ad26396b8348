# Sourced (with $root set to the repository) by .ci/run and
# bindings-py/run-tests.sh: the project's own Python virtual environment,
# target/ci-venv (created on first use with `${PYTHON:-python3} -m venv`,
# removed by `cargo clean`), then activated: VIRTUAL_ENV, PATH (its bin/ first)
# and PYTHON point at it, so `python3` and pip in these scripts and in the tests
# they start (the live-traffic drivers of tests/traffic/ need aioquic) never
# install into, nor depend on, the user's Python.
ci_venv="$root/target/ci-venv"
if ! "$ci_venv/bin/python3" -c "" 2>/dev/null; then
  echo "creating the project's Python virtual environment: $ci_venv"
  mkdir -p "$root/target"
  "${PYTHON:-python3}" -m venv --clear "$ci_venv"
fi
export VIRTUAL_ENV="$ci_venv"
export PATH="$ci_venv/bin:$PATH"
export PYTHON="$ci_venv/bin/python3"
unset PYTHONHOME
