#!/usr/bin/env bash
# scripts/test-gpu-bundle.sh BUNDLE — proves, without a GPU, that scripts/gpu-bundle.sh's archive
# runs on a machine that has none of kiln's build dependencies: a minimal Debian 12 chroot
# (debootstrap --variant=minbase: the required packages and apt, no -dev package, no OpenBLAS,
# HDF5, libpng, libjpeg, cairo, GTest, benchmark, Python or xz) with the CUDA toolkit bind-mounted
# read-only at /usr/local/cuda, as the GPU machine has it. Inside it, with LD_LIBRARY_PATH holding
# the CUDA libraries only (the bundle's own must be found through its RUNPATHs):
#   1. ldd of every bundled program and library: nothing "not found"
#   2. kiln --version: it loads, names the OpenMP OpenBLAS and cuDNN, says it has no GPU
#   3. kiln_cuda_tests: loads and runs (every test skips without a GPU), exit 0; and the same
#      suite built against kiln's CUDA emulation (emulated/ in the bundle): every test runs, on
#      the CPU, through the bundle's libraries
#   4. kiln train --device cpu, 1 epoch on 2,048 MNIST images from the bundle (OpenBLAS + OpenMP
#      training, HDF5 model files, cairo/libpng pictures), then evaluate (HDF5 read), pool to a
#      JPEG and back (libjpeg, libpng)
#   5. kiln_bench_seed_step and kiln_bench_kernels on the CPU, briefly
#   6. scripts/gpu-check.sh BUNDLE tests and all, from the bundle, on a gzip repack of the
#      archive (the chroot has no xz or Python; on the GPU machine gpu-check.sh unpacks .tar.xz
#      with xz or Python's tarfile): summary.md with skip rows, logs.tar.gz, exit 0; and with
#      KILN_REQUIRE_GPU=1, a non-zero exit
# Needs root, debootstrap (apt-get install debootstrap) and the network to a Debian mirror the
# first time. The chroot is made once and kept in $KILN_CHROOT_DIR (default
# /var/cache/kiln-chroot); KILN_DEBIAN_MIRROR overrides the mirror. Mounts are undone by a trap.
# Exit status: 0 when every check passed.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BUNDLE (an archive made by scripts/gpu-bundle.sh)" >&2; exit 2; }
BUNDLE=$(readlink -f "$1")
[ -f "$BUNDLE" ] || { echo "test-gpu-bundle: no bundle at $1" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test-gpu-bundle: needs root (chroot, mount)" >&2; exit 2; }
CHROOT=${KILN_CHROOT_DIR:-/var/cache/kiln-chroot}
MIRROR=${KILN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CUDA_DIR=$(readlink -f /usr/local/cuda)
INSIDE=/tmp/kiln-bundle-test   # the test's folder, as the chroot sees it
FAILED=0
MOUNTS=()

make_chroot() {
  [ -f "$CHROOT/.kiln-chroot-ready" ] && return
  command -v debootstrap >/dev/null || { echo "test-gpu-bundle: apt-get install debootstrap" >&2; exit 2; }
  echo "==> debootstrap --variant=minbase bookworm $CHROOT (once; cached)"
  rm -rf "$CHROOT.partial"
  debootstrap --variant=minbase bookworm "$CHROOT.partial" "$MIRROR" >/tmp/kiln-debootstrap.log 2>&1 ||
    { tail -20 /tmp/kiln-debootstrap.log >&2; exit 1; }
  rm -rf "$CHROOT"
  mv "$CHROOT.partial" "$CHROOT"
  touch "$CHROOT/.kiln-chroot-ready"
}

mount_into() {  # mount_into TARGET MOUNT-ARGS... — remembered for cleanup
  mkdir -p "$1"
  local target=$1
  shift
  mount "$@" "$target"
  MOUNTS+=("$target")
}

cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" || true
  done
  rm -rf "${CHROOT:?}$INSIDE"
}

# in_chroot COMMAND... — a clean environment: CUDA's libraries only on LD_LIBRARY_PATH.
in_chroot() {
  chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LD_LIBRARY_PATH=/usr/local/cuda/lib64 OMP_NUM_THREADS=2 "$@"
}

# check NAME EXPECTATION COMMAND... — runs COMMAND in the chroot, prints its output's tail, and
# passes when it exits 0 and its output matches the extended regex EXPECTATION ("" for any).
check() {
  local name=$1 expect=$2 out rc=0
  shift 2
  echo
  echo "---- $name: $*"
  out=$(in_chroot "$@" 2>&1) || rc=$?
  tail -12 <<<"$out"
  if [ $rc -eq 0 ] && { [ -z "$expect" ] || grep -qE "$expect" <<<"$out"; }; then
    echo "PASS  $name"
  else
    echo "FAIL  $name (exit $rc${expect:+, expected /$expect/})"
    FAILED=1
  fi
}

# The chroot must lack what the bundle brings, or the test proves nothing.
check_chroot_is_bare() {
  local lib found=0
  for lib in libopenblas libhdf5 libcairo libpng16 libjpeg libgomp libgfortran libbenchmark libgtest; do
    if in_chroot ldconfig -p | grep -q "$lib"; then
      echo "test-gpu-bundle: the chroot has $lib: not a bare system" >&2
      found=1
    fi
  done
  [ $found = 0 ] || exit 1
  echo "==> the chroot has none of kiln's libraries (OpenBLAS, HDF5, cairo, libpng, libjpeg, libgomp, …)"
}

main() {
  make_chroot
  trap cleanup EXIT
  check_chroot_is_bare
  mount_into "$CHROOT/proc" -t proc proc
  mount_into "$CHROOT/dev" --bind /dev
  mount_into "$CHROOT/usr/local/cuda" --bind "$CUDA_DIR"
  mount -o remount,bind,ro "$CHROOT/usr/local/cuda"
  rm -rf "${CHROOT:?}$INSIDE"
  mkdir -p "$CHROOT$INSIDE"
  echo "==> unpack $(basename "$BUNDLE") into the chroot ($INSIDE)"
  tar -xaf "$BUNDLE" -C "$CHROOT$INSIDE"
  local b=$INSIDE/kiln-gpu-bundle
  sed -n '1,4p' "$CHROOT$b/MANIFEST"

  local file unresolved=0
  echo
  echo "---- ldd of every bundled program and library"
  for file in "$CHROOT$b"/bin/* "$CHROOT$b"/lib/*.so* "$CHROOT$b"/emulated/bin/* "$CHROOT$b"/emulated/lib/*.so*; do
    [ -e "$file" ] || continue
    if in_chroot ldd "${file#"$CHROOT"}" | grep 'not found'; then
      echo "  in $(basename "$file")"
      unresolved=1
    fi
  done
  if [ $unresolved = 0 ]; then echo "PASS  ldd: every library resolves"; else echo "FAIL  ldd"; FAILED=1; fi

  check "kiln --version" 'OpenBLAS.*USE_OPENMP' "$b/bin/kiln" --version
  check "kiln_cuda_tests" 'PASSED|SKIPPED' "$b/bin/kiln_cuda_tests" --gtest_brief=1
  # The same CUDA suite against kiln's CUDA emulation: every test runs, on the CPU (no skips).
  [ -x "$CHROOT$b/emulated/bin/kiln_cuda_tests" ] &&
    check "kiln_cuda_tests on the CUDA emulation" '\[  PASSED  \] [0-9]+ tests\.$' \
      "$b/emulated/bin/kiln_cuda_tests" --gtest_brief=1
  check "kiln train --device cpu" 'accuracy' "$b/bin/kiln" train --dataset mnist --epochs 1 \
    --limit 2048 --test-limit 1000 --batch-size 128 --device cpu --data-dir "$b/data" --out $INSIDE/run
  check "run files" 'metrics.json' sh -c "ls $INSIDE/run && test -s $INSIDE/run/model.h5 && test -s $INSIDE/run/history.png"
  check "kiln evaluate (HDF5 read)" 'accuracy' "$b/bin/kiln" evaluate --model $INSIDE/run/model.h5 \
    --dataset mnist --limit 500 --device cpu --data-dir "$b/data"
  check "kiln pool PNG -> JPEG" '' "$b/bin/kiln" pool $INSIDE/run/history.png -o $INSIDE/pool.jpg --mode max --size 2
  check "kiln pool JPEG -> PNG" '' "$b/bin/kiln" pool $INSIDE/pool.jpg -o $INSIDE/pool.png --mode avg --size 2
  check "kiln_bench_seed_step --device cpu" 'train_step_ms' "$b/bin/kiln_bench_seed_step" --device cpu --steps 1 --batch 64
  [ -x "$CHROOT$b/bin/kiln_bench_kernels" ] &&
    check "kiln_bench_kernels (cpu)" 'dense' "$b/bin/kiln_bench_kernels" --benchmark_filter='dense.*/cpu' --benchmark_min_time=0.01

  # gpu-check.sh on the bare system, from a gzip repack (no xz or Python in the chroot).
  tar -C "$CHROOT$INSIDE" -czf "$CHROOT$INSIDE/bundle.tar.gz" kiln-gpu-bundle
  check "gpu-check.sh tests (no GPU: skip rows, exit 0)" '\| cuda tests \| skip' \
    env OUT=$INSIDE/out-tests "$b/scripts/gpu-check.sh" $INSIDE/bundle.tar.gz tests
  check "gpu-check.sh all (no GPU: skip rows, exit 0)" '\| bench \| seed step \| skip' \
    env OUT=$INSIDE/out-all "$b/scripts/gpu-check.sh" $INSIDE/bundle.tar.gz all
  check "gpu-check.sh returned summary.md and logs.tar.gz" 'logs.tar.gz' \
    sh -c "ls $INSIDE/out-all && test -s $INSIDE/out-all/summary.md && tar -tzf $INSIDE/out-all/logs.tar.gz | grep -c . >/dev/null"
  echo
  echo "---- KILN_REQUIRE_GPU=1 gpu-check.sh tests: must exit non-zero"
  if in_chroot env KILN_REQUIRE_GPU=1 OUT=$INSIDE/out-require "$b/scripts/gpu-check.sh" $INSIDE/bundle.tar.gz tests >/dev/null 2>&1; then
    echo "FAIL  KILN_REQUIRE_GPU=1 exited 0"
    FAILED=1
  else
    grep -E '\| FAIL \|' "$CHROOT$INSIDE/out-require/summary.md" | head -3
    echo "PASS  KILN_REQUIRE_GPU=1 exits non-zero"
  fi

  echo
  if [ $FAILED = 0 ]; then echo "test-gpu-bundle: every check passed"; else echo "test-gpu-bundle: some checks FAILED"; fi
  return $FAILED
}

main
