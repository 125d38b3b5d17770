#!/usr/bin/env bash
# Checks the dependency graph's design rules with `cargo tree`:
#   1. `serve` links only the lean inference crate and the registry: never polars, linfa, data,
#      preprocess, train, the run store (SQLite) or an HTTP client.
#   2. `model` links no data-frame, learning, HTTP or CLI library; `report` links nothing at all.
#   3. Exactly one ndarray version (our arrays and linfa's must be the same type).
#   4. No duplicated crate versions beyond the known, explained allow-list below.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
complain() { echo "check-deps: $*" >&2; fail=1; }

# Normal (non-dev, non-build) dependencies of a package, as bare crate names.
deps_of() {
  cargo tree --locked -p "$1" -e normal --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u
}

serve_deps=$(deps_of serve)
grep -qx model <<<"$serve_deps" || complain "\`cargo tree -p serve\` did not list \`model\`: the check itself is broken"
for forbidden in polars polars-core linfa linfa-logistic linfa-trees linfa-svm linfa-bayes linfa-nn data preprocess train ndarray tracking rusqlite libsqlite3-sys ureq; do
  if grep -qx "$forbidden" <<<"$serve_deps"; then
    complain "\`serve\` depends on \`$forbidden\`; it may only use \`model\` for inference and \`registry\` to follow an alias"
  fi
done

# The registry is what the server links to follow an alias: plain files and the model crate.
registry_deps=$(deps_of registry)
for forbidden in polars polars-core linfa ndarray actix-web clap anyhow rusqlite ureq data preprocess train tracking; do
  if grep -qx "$forbidden" <<<"$registry_deps"; then
    complain "\`registry\` depends on \`$forbidden\`; it may depend on \`model\` only"
  fi
done

model_deps=$(deps_of model)
for forbidden in polars polars-core linfa actix-web clap anyhow data preprocess train; do
  if grep -qx "$forbidden" <<<"$model_deps"; then
    complain "\`model\` depends on \`$forbidden\`; it must stay the lean inference core"
  fi
done

report_deps=$(deps_of report)
if [[ "$report_deps" != "report" ]]; then
  complain "\`report\` must link no other crate (the lean server uses it); it links: $(grep -vx report <<<"$report_deps" | tr '\n' ' ')"
fi

# Duplicated versions anywhere in the workspace graph (normal edges, all targets).
# `--duplicates` also lists one version built for both host (proc-macros) and target; only
# crates present in two or more distinct versions count.
duplicates=$(cargo tree --locked --workspace -e normal --duplicates --depth 0 --prefix none --format '{p}' \
  | awk 'NF {print $1, $2}' | sort -u | awk '{count[$1]++} END {for (name in count) if (count[name] > 1) print name}' | sort)

if grep -qx ndarray <<<"$duplicates"; then
  complain "two versions of \`ndarray\`: our code and linfa's models must share ndarray 0.16"
fi

# Known duplicates that the named crates make unavoidable, each with its reason.
declare -A allowed=(
  [rand]="0.8 is linfa's (our seeding must use it); 0.9 comes with argmin-math 0.5 (linfa-logistic); 0.10 with polars 0.55"
  [rand_core]="one per rand version above"
  [rand_chacha]="rand 0.8 and rand 0.9 each bring their own"
  [rand_xoshiro]="0.6 is ours and linfa's (rand_core 0.6); polars-utils uses 0.7 (rand_core 0.9)"
  [getrandom]="0.2, 0.3 and 0.4 follow the three rand_core versions"
  [cpufeatures]="0.2 for sha2 (dataset hashes), 0.3 for the ChaCha of rand 0.10 (polars)"
  [thiserror]="1.x inside linfa and argmin, 2.x in our crates and polars"
  [thiserror-impl]="follows thiserror"
  [syn]="most derives use syn 2; a newer derive in polars' graph uses syn 3"
  [foldhash]="0.1 in rusqlite's statement cache (hashlink; train's run store), 0.2 in actix-web and metrics (serve): never both in one binary"
  [http]="0.2 in actix-web 4 (serve), 1.x in ureq (train's MLflow client): never both in one binary"
  [base64]="0.22 in metrics-exporter-prometheus (Prometheus metrics), 0.23 in utoipa-swagger-ui (/docs)"
  [hashbrown]="0.16 pinned by metrics-util (under the Prometheus exporter), 0.17 under indexmap, 0.15 under rusqlite's hashlink (train only)"
)

for crate in $duplicates; do
  if [[ -z "${allowed[$crate]+set}" ]]; then
    versions=$(cargo tree --locked --workspace -e normal --duplicates --depth 0 --prefix none --format '{p}' 2>/dev/null \
      | awk -v c="$crate" '$1 == c {print $2}' | sort -u | tr '\n' ' ')
    complain "new duplicated crate \`$crate\` ($versions): unify it, or add it to the allow-list with a reason"
  fi
done

if [[ $fail -ne 0 ]]; then
  exit 1
fi
echo "check-deps: ok (serve links $(wc -l <<<"$serve_deps") crates, no polars/linfa; one ndarray; $(wc -w <<<"$duplicates") allowed duplicates)"
