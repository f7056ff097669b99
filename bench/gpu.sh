#!/usr/bin/env bash
# One-shot GPU benchmark (bench/gpu.ts): adapter, matmul, conv, ResNet-50 and BERT steps, dispatch cost.
# Sets up the environment as scripts/env.sh does (Dawn picks the hardware GPU when there is one;
# THAW_ADAPTER=lavapipe|swiftshader forces a software driver) and runs it; the sections stop starting
# after --budget-s (default 420 s), and a hard limit of 480 s (BENCH_TIMEOUT_S) ends a run that hangs.
# Results: bench/results/gpu-<adapter>.json, rewritten after each section.
# Usage: bash bench/gpu.sh [--quick] [--budget-s S] [--peak-tflops N] [--only matmul,conv,resnet50,bert,dispatch]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/tsx ] || { echo "bench/gpu.sh: run 'npm ci' first (the benchmark needs the dev dependencies: tsx, @tensorflow/tfjs)" >&2; exit 2; }
source scripts/env.sh
exec timeout -k 10 "${BENCH_TIMEOUT_S:-480}" node bench/gpu.ts "$@"
