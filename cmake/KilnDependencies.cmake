# Every dependency comes from a Debian package and is found here, once.
find_package(PkgConfig REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)

# OpenBLAS (CPU GEMM). Debian ships a pkg-config file; it carries the cblas.h include dir.
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)

# CUDA backend: optional at configure time.
set(KILN_HAVE_CUDA OFF)
if(NOT KILN_WITH_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_package(CUDNN REQUIRED)
    set(KILN_HAVE_CUDA ON)
  elseif(KILN_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KILN_WITH_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "kiln: CUDA backend ${KILN_HAVE_CUDA}")

# Files: HDF5 (C API) for weights and models, zlib for gzip'd IDX datasets.
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# Images: PNG (libpng) and JPEG (libjpeg-turbo) for read_image / write_png / write_jpeg.
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)

# Cairo: the CLI's pictures (training curves, confusion matrix, misclassified samples).
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
