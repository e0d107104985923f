#!/usr/bin/env bash
# Regenerates the generated blocks of docs/config.md (`kvlab list keys --markdown`) and
# docs/results-format.md (`kvlab list results`) from a built kvlab, after a key, column or
# summary value changed, and the Python package's key types (python/kvlab/_key_types.py) from
# docs/config.md. The ConfigKeysDoc, ResultsFormatDoc and reports.python_package tests fail
# until this is run.
#   scripts/update_generated_docs.sh [path/to/kvlab]   (default: build/default/bin/kvlab)
set -euo pipefail
cd "$(dirname "$0")/.."
KVLAB="${1:-build/default/bin/kvlab}"
replace_block() {  # file, begin marker, end marker, command...
  local file="$1" begin="$2" end="$3"
  shift 3
  local generated
  generated="$("$@")"
  BEGIN="$begin" END="$end" GENERATED="$generated" python3 - "$file" <<'PY'
import os, sys
path = sys.argv[1]
text = open(path).read()
begin, end = os.environ["BEGIN"], os.environ["END"]
i, j = text.index(begin), text.index(end)
text = text[: i + len(begin)] + "\n" + os.environ["GENERATED"] + "\n" + text[j:]
open(path, "w").write(text)
PY
}
replace_block docs/config.md "<!-- kvlab list keys --markdown: begin (generated; do not edit) -->" \
  "<!-- kvlab list keys --markdown: end -->" "$KVLAB" list keys --markdown
replace_block docs/results-format.md "<!-- kvlab list results: begin (generated; do not edit) -->" \
  "<!-- kvlab list results: end -->" "$KVLAB" list results
python3 python/kvlab/keys.py docs/config.md > python/kvlab/_key_types.py.new
mv python/kvlab/_key_types.py.new python/kvlab/_key_types.py
git diff --stat -- docs/config.md docs/results-format.md python/kvlab/_key_types.py
