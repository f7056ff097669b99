# Sourced by scripts/test.sh and scripts/test_weights.sh (after scripts/env.sh): how the tests run.
# Each use of a cached kernel is compared with its first (its defines and generated blocks), so a pipeline key that misses a value fails a test.
export THAW_CHECK_KERNELS=1
# lavapipe compiles shaders without LLVM's optimisation passes: the tests' kernels are small, and on an
# empty shader cache most of the suite's time is that compilation (at 8 lanes, ops/linear_act alone:
# 142 s with this, 182 s without; models/gradients 285 s and 401 s). Benchmarks never set it.
export GALLIVM_PERF="${GALLIVM_PERF-nopt}"
# lavapipe runs 4 lanes per SIMD vector (128-bit, as on ARM) instead of its default 8 (256-bit):
# LLVM compiles each shader in about half the time (an empty shader cache: ops/depthwise 62 s -> 24 s,
# the test suite 13.1 -> 6.1 min on 2 cores), and the subgroup kernels run with 4-lane subgroups (the
# tuning tables' 4-lane entries). scripts/test.sh runs the files of the subgroup kernels once more at
# the default 8 lanes (its WIDE), the subgroup size users here get. Benchmarks never set it.
export LP_NATIVE_VECTOR_WIDTH="${LP_NATIVE_VECTOR_WIDTH-128}"
