#!/usr/bin/env bash
# Every picture nnctl draws and both HTML reports, as a person sees them, for docs/how-to/reports-and-figures.md.
# Run from the repository root with the venv active (needs the plot extra):
#   bash docs/images/screenshots.sh [OUT_DIR]
# Trains a few small runs and a short search in a temporary folder (about a minute on two cores), draws each
# figure kind at its default size, and photographs the run report and the search report in headless Chromium
# (1280 px wide, tall enough for the whole page) with the screenshot tool: $NNCTL_SCREENSHOT, else ../shared/tools/screenshot beside the
# repository, else chromium itself. Full-size pictures go to OUT_DIR (default: a new temporary folder, printed
# at the end) to look at; half-size copies of the ones the how-to shows go to docs/images/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
nnctl=${NNCTL:-nnctl}
out=${1:-$(mktemp -d)}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

shoot() {  # PAGE.html OUT.png HEIGHT: a screenshot of the page 1280 px wide, HEIGHT px tall
    local tool=${NNCTL_SCREENSHOT:-$repo/../shared/tools/screenshot}
    if [ -x "$tool" ]; then
        "$tool" "$1" "$2" 1280 "$3" >/dev/null
    else
        chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="1280,$3" \
            --screenshot="$(realpath -m "$2")" "file://$(realpath "$1")" >/dev/null 2>&1
    fi
}

train() {  # SPEC [--set KEY=VALUE...]: the new run's directory
    "$nnctl" train "$@" --quiet --json | sed 's/^{"run": "\([^"]*\)".*/\1/'
}

out=$(realpath "$out")
cd "$work"  # runs/ here: the pages and pictures name runs/NAME, not a temporary path
configs=$repo/configs
digits=$(train "$configs/quickstart.yaml" --set train.epochs=12)
adam=$(train "$configs/quickstart.yaml" --set train.epochs=12 --set 'train.optimizer={name: adam}' --set train.learning_rate=0.003)
decay=$(train "$configs/quickstart.yaml" --set train.epochs=12 --set 'train.schedule={name: inverse_time, decay_rate: 0.3}')
cnn=$(train "$configs/digits-cnn.yaml" --set train.epochs=6)
flower=$(train "$configs/planar-tanh.yaml" --set train.epochs=1500)
diabetes=$(train "$configs/diabetes.yaml" --set train.epochs=60)
search=$("$nnctl" tune "$configs/digits-search.yaml" --trials 10 --set train.epochs=6 --workers 2 --quiet --json \
    | sed 's/^{"tune_dir": "\([^"]*\)".*/\1/')

"$nnctl" plot "$digits" --out "$out/curves.png"
"$nnctl" plot "$digits" --per step --out "$out/curves-step.png"
"$nnctl" plot "$digits" "$adam" "$decay" --out "$out/curves-overlay.png"
"$nnctl" plot confusion "$digits" --out "$out/confusion.png"
"$nnctl" plot errors "$digits" --limit 16 --out "$out/errors.png"
"$nnctl" plot filters "$cnn" --out "$out/filters.png"
"$nnctl" plot boundary "$flower" --out "$out/boundary.png"
"$nnctl" plot tune "$search" --out "$out/tune.png"
"$nnctl" plot fit "$diabetes" --out "$out/fit.png"
"$nnctl" plot residuals "$diabetes" --out "$out/residuals.png"
"$nnctl" plot "$digits" --terminal > "$out/curves-terminal.txt"
"$nnctl" report "$digits" --out "$out/report.html"
"$nnctl" report "$search" --out "$out/search-report.html"
shoot "$out/report.html" "$out/report.png" 5200  # tall enough for the whole page
shoot "$out/search-report.html" "$out/search-report.png" 3000
COLUMNS=60 "$nnctl" runs list runs > "$out/runs-list-60.txt"
"$nnctl" runs list "$search" | cat > "$out/runs-list-pipe.txt"

# Half-size copies for the how-to (small files, 128 colours); a page keeps its first 3000 px.
python - "$out" "$repo/docs/images" <<'EOF'
import sys
from pathlib import Path

from PIL import Image

source, target = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("report", "search-report", "curves", "curves-step", "curves-overlay", "confusion", "errors", "filters",
             "boundary", "tune", "fit", "residuals"):
    image = Image.open(source / f"{name}.png").convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, 3000)))
    image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    image.quantize(colors=128).save(target / f"how-to-{name}.png", optimize=True)
EOF
echo "$out"
