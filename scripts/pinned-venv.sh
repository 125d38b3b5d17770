# Sourced by scripts that need one pinned Python package in a virtualenv of its own, outside the
# clone (MLflow and Prefect each bring a large dependency tree that conflicts with the other's).
# pinned_venv DIR MODULE VERSION: creates DIR once and installs MODULE==VERSION into it, unless
# it already holds that version.
pinned_venv() {
  local dir="$1" module="$2" version="$3"
  if ! "$dir/bin/python" -c "import $module; assert $module.__version__ == '$version'" 2> /dev/null; then
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$module==$version"
  fi
}
