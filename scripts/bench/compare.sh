#!/bin/sh
# Builds outpost-bench in release mode and runs it interleaved with the PyTorch peer on this
# machine, 2 threads each (see scripts/bench/compare.py for the options, which pass through).
#
#   scripts/bench/compare.sh --rounds 3 --seconds 5
#   TORCH_PYTHON=/path/to/venv/bin/python scripts/bench/compare.sh --only W1,W4
#
# SCRATCH (default .build) is the build folder. TORCH_PYTHON is a Python with torch
# (default python3).
set -eu
cd "$(dirname "$0")/../.."
SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product outpost-bench >&2
exec python3 scripts/bench/compare.py --bench "$SCRATCH/release/outpost-bench" "$@"
