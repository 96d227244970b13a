#!/usr/bin/env bash
# The pair benchmark's entembed phase on two revisions of the code, alternately, so that both see the same
# machine load: each revision is checked out into a temporary worktree and run with its own bench_pairs.py.
# Usage: [PYTHON=/path/to/python] benchmarks/compare_revisions.sh OLD_REV NEW_REV [ROUNDS]   (from the repository root)
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
root=$(git rev-parse --show-toplevel)
python=${PYTHON:-$root/.venv/bin/python}  # PYTHON=... for a worktree without its own venv
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/old" 2>/dev/null; git -C "$root" worktree remove --force "$work/new" 2>/dev/null; rm -rf "$work"' EXIT
git -C "$root" worktree add -q --detach "$work/old" "$old"
git -C "$root" worktree add -q --detach "$work/new" "$new"
for round in $(seq "$rounds"); do
  for side in old new; do
    echo "=== round $round $side ($(git -C "$work/$side" rev-parse --short HEAD)) $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    (cd "$work/$side" && PYTHONPATH="$work/$side/src" "$python" benchmarks/bench_pairs.py --methods entembed \
      | grep -E "^\| entembed|^- entembed")
  done
done
