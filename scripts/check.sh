#!/usr/bin/env bash
# Type-checks and lints the whole tree, as `npm test` does before the tests: one tsc program
# (tsconfig.json), one eslint and one prettier process, in parallel. `check.sh [typecheck] [eslint]
# [prettier]` runs only those. Per workspace (`turbo run typecheck lint --filter=...`, for one
# workspace) the whole tree costs ~4x the CPU: each workspace's tsc checks again the sources of
# every package it imports, and each eslint and prettier loads its parsers again.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# The folders each workspace's lint script covers (src, test, bench; the simulator's scripts too).
dirs=()
for d in {packages,agents}/*/{src,test,bench} packages/sim/scripts {scheduler,cli,test}/{src,test,bench}; do
  [[ -d $d ]] && dirs+=("$d")
done
# Prettier: TypeScript everywhere, the JavaScript of src (the dashboard), and the root's own files.
globs=("*.{ts,js,mjs,json}")
for d in "${dirs[@]}"; do
  [[ $d == */src ]] && globs+=("$d/**/*.{ts,js,mjs}") || globs+=("$d/**/*.ts")
done

typecheck() { tsc -p tsconfig.json && tsc -p scheduler/src/api/web/tsconfig.json; }
eslint_() { eslint "${dirs[@]}"; }
prettier_() { prettier --check --log-level warn "${globs[@]}"; }

checks=("$@")
pids=()
((${#checks[@]})) || checks=(typecheck eslint prettier)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for c in "${checks[@]}"; do
  case $c in
    typecheck) typecheck >"$out/$c" 2>&1 & ;;
    eslint) eslint_ >"$out/$c" 2>&1 & ;;
    prettier) prettier_ >"$out/$c" 2>&1 & ;;
    *) echo "check.sh: unknown check '$c' (typecheck, eslint, prettier)" >&2 && exit 2 ;;
  esac
  pids+=("$!")
done
failed=0
for i in "${!checks[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed=1
    echo "check.sh: ${checks[$i]} failed:" >&2
    cat "$out/${checks[$i]}" >&2
  fi
done
exit $failed
