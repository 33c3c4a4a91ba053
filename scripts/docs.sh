#!/usr/bin/env bash
# Build the documentation site from the notebooks into site/ (strict: warnings and broken internal links fail).
#   bash scripts/docs.sh                 # build (open site/index.html)
#   bash scripts/docs.sh serve           # build and serve at http://127.0.0.1:8000
#   bash scripts/docs.sh build --papers-from runs/toyworld   # executed papers from your own run folders
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec python tools/docs_site.py "${@:-build}"
