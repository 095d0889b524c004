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
  # The menu's version hash changes with every edit of the menu: traces show
  # it as VERSION so that a text change does not rewrite every trace.
  ver=$("$tool" check "$menu" | sed -n 's/.*, version \([0-9a-f]*\))$/\1/p')
  [[ -n $ver ]] || { echo "cannot read the version of $menu" >&2; exit 1; }
  "$tool" walk "$menu" < "$file" | sed "s/$ver/VERSION/g" > "$out"
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
