#!/usr/bin/env bash
# The main job on the embedded default (toyworld): every configured backbone, figures and a results table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
python -m align_nb.cli main "$@"
