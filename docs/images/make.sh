#!/usr/bin/env sh
# Regenerates the README's and the manual's example pictures (needs the plot extra: pip install -e '.[plot]'):
#   sh docs/images/make.sh
# Trains configs/quickstart.yaml and configs/planar-tanh.yaml into a temporary folder
# (a few seconds each) and draws their learning curves and decision boundary, then runs
# a short search of configs/digits-search.yaml (16 trials of 10 epochs) and draws it.
set -eu
cd "$(dirname "$0")/../.."
nnctl=${NNCTL:-.venv/bin/nnctl}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
train() {
    "$nnctl" train "$1" --runs-dir "$tmp" --quiet --json | sed 's/^{"run": "\([^"]*\)".*/\1/'
}
run=$(train configs/quickstart.yaml)
"$nnctl" plot "$run" --per step --out docs/images/curves-quickstart.png
run=$(train configs/planar-tanh.yaml)
"$nnctl" plot boundary "$run" --out docs/images/boundary-planar.png
tune_dir=$("$nnctl" tune configs/digits-search.yaml --trials 16 --set train.epochs=10 --workers 2 --runs-dir "$tmp" \
    --quiet --json | sed 's/^{"tune_dir": "\([^"]*\)".*/\1/')
"$nnctl" plot tune "$tune_dir" --out docs/images/tune-digits.png
