#!/usr/bin/env bash
# Kim & Park's two experiments from the committed presets, then the tables of
# docs/results/masking.md. Everything runs on one thread (the machine is shared).
#   examples/papers/masking/run.sh            (from anywhere; OUTPOST=path overrides the binary)
# 1. The minimum threshold of each defense against iDLG on MNIST, photos32 and the LFW subset
#    (and, beyond the paper, clipping against the scale-invariant csDLG on MNIST).
# 2. FedAvg with each defense at its threshold: mean and median aggregation, IID and non-IID
#    clients, on photos32 (the paper's Fig. 5 uses CIFAR-10) and on MNIST.
set -euo pipefail
cd "$(dirname "$0")/../../.."
outpost=${OUTPOST:-.build/release/outpost}
here=examples/papers/masking
out=out/papers/masking

for search in mnist photos32 lfw mnist-csdlg-clipping; do
    rm -rf "$out/threshold-$search"
    "$outpost" threshold "$here/threshold-$search.yml" --threads 1
done

# The baseline, then every defense at its threshold on the same data set (training
# checkpoints and resumes, so stale runs are removed first: a changed threshold must not
# resume an old run).
for data in photos32 mnist; do
    defenses=$(jq -c '[{defense: "none"}] + .' "$out/threshold-$data/defenses.json")
    for config in "$here"/fedavg-"$data"-*.yml; do
        rm -rf "$out/$(basename "$config" .yml)"
        "$outpost" train "$config" --threads 1 --set "defenses=$defenses"
    done
done

python3 "$here/tables.py"
