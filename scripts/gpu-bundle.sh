#!/usr/bin/env bash
# scripts/gpu-bundle.sh [OUT_ARCHIVE] — builds kiln here for the borrowed GPU machine (H100/H200)
# and packs everything scripts/gpu-check.sh needs there into ONE archive.
#
# Why: the GPU machine (Ubuntu 24.04, CUDA 13.0, cuDNN, PyTorch; no OpenBLAS, HDF5, libpng,
# libjpeg, cairo, CLI11, fmt or GTest, no network) is lent for minutes; building there is too slow
# and impossible. So we build on Debian 12 and ship the binaries with every non-CUDA library they
# load, found by ldd.
#
#   1. build      Release, KILN_WITH_CUDA=ON, KILN_CUDA_ARCHITECTURES="90-real;90-virtual"
#                 (sm_90 code for the H100/H200, compute_90 PTX for anything newer), device code
#                 with -lineinfo (compute-sanitizer names source lines), in build-bundle/ (-j2):
#                 kiln (kiln_cli), kiln_cuda_tests, kiln_bench_seed_step, kiln_bench_kernels,
#                 kiln_bench_detect.
#                 kiln_unit_tests is left out: it is CPU-only, runs here in every scripts/test.sh,
#                 reads fixtures from this checkout (KILN_SOURCE_DIR) and is the slowest to build.
#   1b. emulated  the same kiln_cuda_tests built against kiln's CUDA emulation (build-emu/,
#                 -DKILN_CUDA_EMULATION=ON; docs/CUDA_EMULATION.md) with its own libkiln and
#                 libkiln_cuda_emulation in emulated/: it runs the whole CUDA suite on the CPU of any
#                 machine, so scripts/test-gpu-bundle.sh proves in a bare chroot that the bundle's
#                 libraries carry real CUDA-backend work, not only programs that skip for want of
#                 a GPU. KILN_BUNDLE_SKIP_EMULATED=1 leaves it out.
#   2. libraries  ldd of the built binaries (in the build tree, so kiln's RUNPATH to Debian's
#                 OpenMP OpenBLAS resolves as it does here) gives every shared library they load.
#                 Each one goes into lib/ except
#                   - the core system libraries every Ubuntu has, which must come from the target
#                     because they are tied to its loader and kernel or are newer there and
#                     backward compatible: glibc's (ld-linux-x86-64, libc, libm, libpthread, libdl,
#                     librt, libresolv, libutil, libanl, libmvec, linux-vdso) and GCC's runtime
#                     (libstdc++, libgcc_s; Ubuntu 24.04's are GCC 14's, newer than Debian 12's
#                     GCC 12 ones that we link against). Shipping these would break the target's
#                     own libraries loaded into the same process (cuDNN, cuBLAS).
#                   - the CUDA libraries (libcuda, libcudart, libcublas*, libcudnn*, libnccl,
#                     libnvrtc, libnvJitLink, …): the target has its own, matching its driver;
#                     gpu-check.sh finds them through LD_LIBRARY_PATH.
#                 The OpenBLAS must be Debian's OpenMP build (checked). ldd sees what is linked,
#                 not what is dlopen'ed: kiln dlopens nothing itself, and cuDNN's own sub-libraries
#                 come with the target's cuDNN.
#   3. RUNPATH    patchelf sets it to $ORIGIN/../lib on bin/* and $ORIGIN on lib/*, so nothing
#                 points at this machine (/work/..., /usr/local/cuda/lib, openblas-openmp); then
#                 ldd of the staged files must resolve every bundled name inside the bundle.
#   4. symbols    objdump -T: no file may need a newer glibc than Ubuntu 24.04's 2.39 or a newer
#                 libstdc++/libgcc_s than GCC 13's (GLIBCXX 3.4.32, CXXABI 1.3.14, GCC 13.0.0;
#                 Ubuntu 24.04 has GCC 14's). Debian 12 has glibc 2.36 and GCC 12: this passes.
#   5. data       MNIST's four IDX files (raw: the archive's compressor beats gzip on them; kiln
#                 reads raw or .gz) from $KILN_DATA, else ~/.kiln/datasets (scripts/fetch-data.sh);
#                 the packaged CenterNet (4 MB) from $KILN_MODELS, else ~/.kiln/models
#                 (scripts/fetch-models.sh), and darknet's dog.jpg, for kiln_bench_detect.
#   6. scripts    scripts/gpu-check.sh, benchmarks/compare_pytorch.sh, benchmarks/pytorch_seed_step.py.
#   7. MANIFEST   git commit (and whether the tree was dirty), build settings, the libraries and
#                 where they came from, the highest symbol versions needed, and a sha256 per file
#                 (gpu-check.sh verifies them).
#   8. pack       one archive, named by OUT_ARCHIVE's ending: .tar.xz (default: xz -9e packs this
#                 bundle smallest of the three, and Ubuntu has xz; Python's tarfile unpacks it too),
#                 .tar.zst (zstd -19 --long; the zstd program may be missing on the target),
#                 .tar.gz. It should stay <= 40 MiB (the device tool carries 64 MiB in all).
#
# Environment: KILN_BUNDLE_BUILD_DIR (default build-bundle), KILN_BUNDLE_EMULATED_DIR (default
# build-emu), KILN_BUNDLE_SKIP_EMULATED=1, JOBS (default 2),
# KILN_CUDA_ARCHITECTURES (default "90-real;90-virtual"), KILN_DATA, KILN_BUNDLE_MAX_MIB (40),
# KILN_BUNDLE_SKIP_BUILD=1 (pack an existing build as it is).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARCHIVE=${1:-$ROOT/.device/kiln-gpu-bundle.tar.xz}
BUILD_DIR=${KILN_BUNDLE_BUILD_DIR:-$ROOT/build-bundle}
EMULATED_DIR=${KILN_BUNDLE_EMULATED_DIR:-$ROOT/build-emu}
WITH_EMULATED=$([ "${KILN_BUNDLE_SKIP_EMULATED:-0}" = 1 ] && echo 0 || echo 1)
JOBS=${JOBS:-2}
ARCHS=${KILN_CUDA_ARCHITECTURES:-90-real;90-virtual}
DATA_DIR=${KILN_DATA:-$HOME/.kiln/datasets}
MODELS_DIR=${KILN_MODELS:-$HOME/.kiln/models}
MAX_MIB=${KILN_BUNDLE_MAX_MIB:-40}
NAME=kiln-gpu-bundle

# What the target (Ubuntu 24.04) provides: the newest symbol versions a bundled file may need.
TARGET_GLIBC=2.39
TARGET_GLIBCXX=3.4.32
TARGET_CXXABI=1.3.14
TARGET_GCC=13.0.0
# Taken from the target, never bundled (see the header).
SYSTEM_LIBS_RE='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libresolv\.so\.2|libutil\.so\.1|libanl\.so\.1|libmvec\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$'
CUDA_LIBS_RE='^(libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl|libnvrtc[a-z-]*|libnvJitLink|libcufft|libcufftw|libcurand|libcusolver[A-Za-z]*|libcusparse|libcupti|libnvToolsExt|libnvidia-[a-z-]*)\.so'

die() {
  echo "gpu-bundle: $*" >&2
  exit 1
}
say() { echo "==> $*"; }

# ---- 1. build
build() {
  say "configure $BUILD_DIR (Release, CUDA architectures $ARCHS)"
  local generator=()
  command -v ninja >/dev/null && [ ! -f "$BUILD_DIR/Makefile" ] && generator=(-G Ninja)
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DKILN_WITH_CUDA=ON -DKILN_BUILD_TESTS=ON -DKILN_BUILD_BENCHMARKS=ON \
    -DKILN_CUDA_ARCHITECTURES="$ARCHS" -DCMAKE_CUDA_FLAGS=-lineinfo >/dev/null
  local targets=(kiln_cli kiln_cuda_tests kiln_bench_seed_step kiln_bench_detect)
  if cmake --build "$BUILD_DIR" --target help | grep -q '^kiln_bench_kernels'; then
    targets+=(kiln_bench_kernels)
  else
    echo "gpu-bundle: warning: kiln_bench_kernels is not configured (Google Benchmark missing)" >&2
  fi
  say "build ${targets[*]} (-j$JOBS)"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"
}

# ---- 1b. the CUDA suite against the emulation
build_emulated() {
  say "configure $EMULATED_DIR (KILN_CUDA_EMULATION=ON) and build kiln_cuda_tests (-j$JOBS)"
  cmake -S "$ROOT" -B "$EMULATED_DIR" -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA_EMULATION=ON \
    -DKILN_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$EMULATED_DIR" -j "$JOBS" --target kiln_cuda_tests
}

stage_emulated() {
  local libkiln
  mkdir -p "$STAGE/emulated/bin" "$STAGE/emulated/lib"
  cp "$EMULATED_DIR/tests/kiln_cuda_tests" "$STAGE/emulated/bin/"
  libkiln=$(readlink -f "$EMULATED_DIR/src/libkiln.so")
  cp "$libkiln" "$STAGE/emulated/lib/"
  ln -sf "$(basename "$libkiln")" "$STAGE/emulated/lib/$(soname_of "$libkiln")"
  cp "$EMULATED_DIR/src/cuda/emulation/libkiln_cuda_emulation.so" "$STAGE/emulated/lib/"
}

# The built programs that go into bin/ (the kernel benchmark only when it was built).
programs() {
  echo "$BUILD_DIR/apps/kiln/kiln"
  echo "$BUILD_DIR/tests/kiln_cuda_tests"
  echo "$BUILD_DIR/benchmarks/kiln_bench_seed_step"
  echo "$BUILD_DIR/benchmarks/kiln_bench_detect"
  [ -x "$BUILD_DIR/benchmarks/kiln_bench_kernels" ] && echo "$BUILD_DIR/benchmarks/kiln_bench_kernels"
  return 0
}

soname_of() { objdump -p "$1" | awk '$1 == "SONAME" {print $2}'; }

# ---- 2. binaries, libkiln, and the libraries ldd finds
stage_binaries() {
  local program
  while read -r program; do
    [ -x "$program" ] || die "$program was not built"
    cp "$program" "$STAGE/bin/"
  done < <(programs)
  local libkiln soname
  libkiln=$(readlink -f "$BUILD_DIR/src/libkiln.so")
  soname=$(soname_of "$libkiln")
  cp "$libkiln" "$STAGE/lib/$(basename "$libkiln")"
  ln -sf "$(basename "$libkiln")" "$STAGE/lib/$soname"
}

# Debian package (and version) that owns a library file; "?" when dpkg does not know it.
package_of() {
  local path=$1 pkg candidate
  for candidate in "$path" "$(readlink -f "$path")" "/usr$path" "${path#/usr}"; do
    pkg=$(dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1,2 | sed 's/: .*//') || true
    if [ -n "$pkg" ]; then
      echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)"
      return
    fi
  done
  echo "?"
}

# ldd of the build-tree files: "NAME PATH" per dependency, once each.
dependencies() {
  local file
  {
    programs
    echo "$BUILD_DIR/src/libkiln.so"
    [ "$WITH_EMULATED" = 1 ] && echo "$EMULATED_DIR/tests/kiln_cuda_tests"
    true
  } | while read -r file; do
    env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$file" | awk '$2 == "=>" {print $1, $3} $1 ~ /^\// {print $1, $1}'
  done | sort -u
}

collect_libraries() {
  : >"$WORK/bundled" && : >"$WORK/from_target"
  local name path
  while read -r name path; do
    name=$(basename "$name")
    if [[ "$name" =~ $SYSTEM_LIBS_RE ]]; then
      echo "$name (system: from the target)" >>"$WORK/from_target"
    elif [[ "$name" =~ $CUDA_LIBS_RE ]]; then
      echo "$name (CUDA: from the target)" >>"$WORK/from_target"
    elif [[ "$name" == libkiln.so* || "$name" == libkiln_cuda_emulation.so ]]; then
      continue
    elif [ "$path" = not ] || [ ! -f "$path" ]; then
      die "ldd cannot find $name, which the bundle needs"
    else
      cp -L "$path" "$STAGE/lib/$name"
      chmod u+w "$STAGE/lib/$name"
      echo "$name <- $path ($(package_of "$path"))" >>"$WORK/bundled"
    fi
  done < <(dependencies)
  sort -u -o "$WORK/from_target" "$WORK/from_target"
  # kiln's CPU GEMM must be the OpenMP OpenBLAS (cmake/KilnDependencies.cmake).
  grep -q '^libopenblas\.so\.0 <- .*/openblas-openmp/' "$WORK/bundled" ||
    die "the OpenBLAS ldd found is not Debian's OpenMP build: $(grep libopenblas "$WORK/bundled" || echo none)"
  objdump -p "$STAGE/lib/libopenblas.so.0" | grep -q 'NEEDED.*libgomp' ||
    die "the bundled libopenblas.so.0 does not use libgomp"
}

# ---- 3. RUNPATHs that point into the bundle only
patch_runpaths() {
  local file
  for file in "$STAGE"/bin/*; do
    patchelf --set-rpath '$ORIGIN/../lib' "$file"
  done
  for file in "$STAGE"/lib/*; do
    [ -L "$file" ] && continue
    patchelf --set-rpath '$ORIGIN' "$file"
  done
  [ "$WITH_EMULATED" = 1 ] || return 0
  # The emulated build's own libkiln first, then the shared libraries of lib/.
  patchelf --set-rpath '$ORIGIN/../lib:$ORIGIN/../../lib' "$STAGE/emulated/bin/kiln_cuda_tests"
  for file in "$STAGE"/emulated/lib/*; do
    [ -L "$file" ] && continue
    patchelf --set-rpath '$ORIGIN:$ORIGIN/../../lib' "$file"
  done
}

check_runpaths_and_resolution() {
  local file bad=0 line
  for file in "$STAGE"/bin/* "$STAGE"/lib/* "$STAGE"/emulated/*/*; do
    [ -L "$file" ] && continue
    line=$(readelf -d "$file" | grep -E '\((RUNPATH|RPATH)\)' || true)
    if grep -qE '/work|/usr|/home|/root' <<<"$line"; then
      echo "gpu-bundle: $file still points outside the bundle: $line" >&2
      bad=1
    fi
    # Every name that is neither a system nor a CUDA library must resolve inside the bundle.
    while read -r name path; do
      [[ "$name" =~ $SYSTEM_LIBS_RE || "$name" =~ $CUDA_LIBS_RE ]] && continue
      if [[ "$(readlink -f "$path")" != "$STAGE/"* ]]; then
        echo "gpu-bundle: $(basename "$file") loads $name from $path, not from the bundle" >&2
        bad=1
      fi
    done < <(LD_LIBRARY_PATH=/usr/local/cuda/lib64 ldd "$file" | awk '$2 == "=>" {print $1, $3}')
  done
  [ $bad = 0 ] || die "RUNPATH check failed"
}

# ---- 4. symbol versions against Ubuntu 24.04
version_le() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$2" ]; }

# The highest version of PREFIX_ that any staged file needs (undefined symbols only).
highest_needed() {
  local prefix=$1 file
  for file in "$STAGE"/bin/* "$STAGE"/lib/* "$STAGE"/emulated/*/*; do
    [ -L "$file" ] && continue
    objdump -T "$file" | awk '/\*UND\*/' | grep -oE "\b${prefix}_[0-9][0-9.]*" || true
  done | sed "s/^${prefix}_//" | sort -uV | tail -1
}

check_symbol_versions() {
  local prefix limit need failed=0
  : >"$WORK/symbols"
  for prefix in GLIBC GLIBCXX CXXABI GCC; do
    case $prefix in
      GLIBC) limit=$TARGET_GLIBC ;;
      GLIBCXX) limit=$TARGET_GLIBCXX ;;
      CXXABI) limit=$TARGET_CXXABI ;;
      GCC) limit=$TARGET_GCC ;;
    esac
    need=$(highest_needed "$prefix")
    echo "${prefix}_${need:-none} needed at most (target has up to ${prefix}_$limit)" >>"$WORK/symbols"
    if [ -n "$need" ] && ! version_le "$need" "$limit"; then
      echo "gpu-bundle: a file needs ${prefix}_$need, newer than Ubuntu 24.04's ${prefix}_$limit" >&2
      failed=1
    fi
  done
  cat "$WORK/symbols"
  [ $failed = 0 ] || die "symbol version check failed"
}

# ---- 5./6. data and scripts
stage_data_and_scripts() {
  local name
  mkdir -p "$STAGE/data/mnist" "$STAGE/scripts" "$STAGE/benchmarks"
  for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$DATA_DIR/mnist/$name" ]; then
      cp "$DATA_DIR/mnist/$name" "$STAGE/data/mnist/"
    elif [ -f "$DATA_DIR/mnist/$name.gz" ]; then
      cp "$DATA_DIR/mnist/$name.gz" "$STAGE/data/mnist/"
    else
      die "MNIST's $name is not in $DATA_DIR/mnist: run scripts/fetch-data.sh"
    fi
  done
  mkdir -p "$STAGE/data/models/centernet" "$STAGE/data/photos"
  cp "$MODELS_DIR/centernet/model.json" "$MODELS_DIR/centernet/centernet.bin" "$STAGE/data/models/centernet/" ||
    die "CenterNet is not in $MODELS_DIR/centernet: run scripts/fetch-models.sh"
  cp /usr/share/darknet/data/dog.jpg "$STAGE/data/photos/" ||
    die "/usr/share/darknet/data/dog.jpg is missing: apt-get install darknet"
  cp "$ROOT/scripts/gpu-check.sh" "$STAGE/scripts/"
  cp "$ROOT/benchmarks/compare_pytorch.sh" "$ROOT/benchmarks/pytorch_seed_step.py" "$STAGE/benchmarks/"
}

# ---- 7. MANIFEST
write_manifest() {
  local commit dirty cudnn_include cudnn
  commit=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l)
  cudnn_include=$(grep -E '^CUDNN_INCLUDE_DIR:' "$BUILD_DIR/CMakeCache.txt" | cut -d= -f2)
  cudnn=$(awk '/#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) / {v = v (v ? "." : "") $3} END {print v}' \
    "$cudnn_include/cudnn_version.h" 2>/dev/null)
  {
    echo "# $NAME"
    echo "created: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) ($(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}'))"
    echo "git commit: $commit$([ "$dirty" -gt 0 ] && echo " + $dirty uncommitted change(s) in the working tree")"
    [ "$dirty" -gt 0 ] && echo "git diff HEAD sha256: $(git -C "$ROOT" diff HEAD | sha256sum | cut -c1-16) (tracked files only)"
    echo "build: Release, KILN_CUDA_ARCHITECTURES=$ARCHS, CMAKE_CUDA_FLAGS=-lineinfo"
    echo "compilers: $(g++ --version | head -1); $(/usr/local/cuda/bin/nvcc --version | tail -2 | head -1)"
    echo "cuDNN headers: ${cudnn:-unknown} ($cudnn_include)"
    echo
    echo "## symbol versions (target: Ubuntu 24.04)"
    cat "$WORK/symbols"
    echo
    echo "## taken from the target, not bundled"
    cat "$WORK/from_target"
    echo
    echo "## bundled libraries (ldd of the build tree)"
    cat "$WORK/bundled"
    echo
    echo "## sha256 (sha256sum -c, from the bundle's root)"
    (cd "$STAGE" && find . -type f ! -name MANIFEST | sed 's|^\./||' | sort | xargs sha256sum)
  } >"$STAGE/MANIFEST"
}

# ---- 8. pack
compressor() {
  case "$ARCHIVE" in
    *.tar.xz) echo "xz -9e -T$JOBS" ;;
    *.tar.zst) echo "zstd -19 --long=27 -T$JOBS -q" ;;
    *.tar.gz) echo "gzip -9" ;;
    *) die "OUT_ARCHIVE must end in .tar.xz, .tar.zst or .tar.gz: $ARCHIVE" ;;
  esac
}

pack() {
  local squeeze
  squeeze=$(compressor)
  mkdir -p "$(dirname "$ARCHIVE")"
  say "pack $ARCHIVE ($squeeze)"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)" \
    -C "$(dirname "$STAGE")" -cf - "$NAME" | $squeeze >"$ARCHIVE.partial"
  mv "$ARCHIVE.partial" "$ARCHIVE"
}

report() {
  local bytes mib
  bytes=$(stat -c %s "$ARCHIVE")
  mib=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b / 1048576}')
  echo
  echo "bundle: $ARCHIVE, $mib MiB compressed; unpacked:"
  (cd "$STAGE" && du -sh bin lib emulated data scripts benchmarks MANIFEST 2>/dev/null | sed 's/^/  /')
  echo "largest files (unpacked):"
  (cd "$STAGE" && find . -type f -printf '%s %p\n' | sort -rn | head -8 |
    awk '{printf "  %6.1f MiB  %s\n", $1 / 1048576, $2}')
  echo "bundled libraries: $(wc -l <"$WORK/bundled") (MANIFEST lists them)"
  awk -v m="$mib" -v max="$MAX_MIB" 'BEGIN {exit !(m > max)}' &&
    die "the bundle is $mib MiB, over the budget of $MAX_MIB MiB"
  return 0
}

main() {
  for tool in patchelf objdump readelf ldd tar; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install patchelf binutils)"
  done
  [ "${KILN_BUNDLE_SKIP_BUILD:-0}" = 1 ] || build
  [ "${KILN_BUNDLE_SKIP_BUILD:-0}" = 1 ] || [ "$WITH_EMULATED" = 0 ] || build_emulated
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  STAGE=$(readlink -f "$WORK")/$NAME
  mkdir -p "$STAGE/bin" "$STAGE/lib"
  say "stage binaries and libkiln"
  stage_binaries
  [ "$WITH_EMULATED" = 0 ] || stage_emulated
  say "collect the libraries ldd finds"
  collect_libraries
  say "set RUNPATHs to \$ORIGIN/../lib (bin) and \$ORIGIN (lib)"
  patch_runpaths
  check_runpaths_and_resolution
  say "check symbol versions against Ubuntu 24.04"
  check_symbol_versions
  say "add MNIST and the check scripts"
  stage_data_and_scripts
  write_manifest
  pack
  report
}

main "$@"
