# Sourced by scripts that compare vigil with scikit-learn and LightGBM: creates (once) the
# virtualenv outside the clone that holds them and sets $VIGIL_BENCH_PYTHON to its interpreter.
bench_venv="${VIGIL_BENCH_VENV:-$HOME/.cache/vigil-bench-venv}"
if [[ ! -x "$bench_venv/bin/python" ]] || ! "$bench_venv/bin/python" -c "import sklearn, lightgbm, pandas" 2> /dev/null; then
  python3 -m venv "$bench_venv"
  "$bench_venv/bin/pip" install --quiet --disable-pip-version-check scikit-learn lightgbm pandas
fi
VIGIL_BENCH_PYTHON="$bench_venv/bin/python"
export VIGIL_BENCH_PYTHON
