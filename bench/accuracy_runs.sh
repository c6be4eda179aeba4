#!/bin/sh
# The accuracy runs of bench/README.md: train each MNIST config with the real CLI, then
# evaluate the run on the test split.  Outputs go to bench/results/accuracy-<config>.txt.
# An entry is a config name, trained for its own epochs, or name:epochs to override them.
# Usage (from the repository root): sh bench/accuracy_runs.sh [config[:epochs] ...]
set -u
# MNIST comes from $NNCTL_DATA_MIRROR, else from ../shared/data/mnist beside the repository
# (relative: the outputs are committed and name no path of the machine).
export NNCTL_DATA_MIRROR=${NNCTL_DATA_MIRROR:-../shared/data/mnist}
RUNS=${RUNS_DIR:-/tmp/benchruns}
CONFIGS=${*:-"mnist-mlp mnist-lenet5 mnist-resnet"}
for entry in $CONFIGS; do
    name=${entry%%:*}
    epochs=""
    [ "$name" != "$entry" ] && epochs="--set train.epochs=${entry#*:} "
    out=bench/results/accuracy-$name.txt
    cmd="nnctl train configs/$name.yaml ${epochs}--runs-dir $RUNS --json --quiet"
    {
        echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) NNCTL_DATA_MIRROR=$NNCTL_DATA_MIRROR $cmd"
        start=$(date +%s)
        .venv/bin/$cmd > /tmp/bench-train-$name.json 2> /tmp/bench-train-$name.err
        echo "# exit $? after $(( $(date +%s) - start )) s"
        cat /tmp/bench-train-$name.json
        sed 's/^/# stderr: /' /tmp/bench-train-$name.err
        run=$(.venv/bin/python -c "import json,sys; print(json.load(open(sys.argv[1])).get('run', ''))" /tmp/bench-train-$name.json)
        echo "# nnctl eval $run --split test --json"
        .venv/bin/nnctl eval "$run" --split test --json
        echo "# exit $?"
    } > "$out" 2>&1
done
