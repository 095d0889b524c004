#!/usr/bin/env bash
# Golden traces for menu/.
#   run-golden.sh walk TOOL X.in    walk menus/demo.json (or the menu named by a
#                                   "#menu PATH" first line) with X.in; diff with X.ok
#   run-golden.sh check TOOL X.ok   check every tests/unit/menu/bad/*.json; diff with X.ok
# GW_GOLDEN_UPDATE=1 rewrites the expected file instead of comparing.
set -euo pipefail
mode=$1 tool=$2 file=$3
top=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$top"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
case $mode in
walk)
  menu=menus/demo.json
  first=$(head -n1 "$file")
  if [[ $first == "#menu "* ]]; then menu=${first#\#menu }; fi
  "$tool" walk "$menu" < "$file" > "$out"
  expected=${file%.in}.ok
  ;;
check)
  for f in tests/unit/menu/bad/*.json; do
    rc=0
    "$tool" check "$f" >> "$out" 2>&1 || rc=$?
    echo "exit $rc" >> "$out"
  done
  expected=$file
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
if [[ ${GW_GOLDEN_UPDATE:-0} == 1 ]]; then
  cp "$out" "$expected"
  echo "updated $expected"
  exit 0
fi
diff -u "$expected" "$out"
