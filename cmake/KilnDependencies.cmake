# Every dependency comes from a Debian package and is found here, once.
find_package(PkgConfig REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)

# OpenBLAS (CPU GEMM). Debian ships a pkg-config file; it carries the cblas.h include dir.
# kiln's own loops are OpenMP, so it takes Debian's OpenMP build of OpenBLAS (libopenblas0-openmp)
# when present: with the default pthreads build, OpenBLAS's workers and libgomp's spinning threads
# fight for the cores (measured on 2 cores: the second seed convolution ran at 70 GFLOP/s instead
# of 260, the training step took 1060 ms instead of 450). Both builds share the SONAME
# libopenblas.so.0, so libkiln gets a RUNPATH to the OpenMP one's directory (KILN_OPENBLAS_RUNPATH).
# (The module prefix is KILN_BLAS, not OPENBLAS, so build trees configured before this choice look
# the library up again instead of keeping the pthreads one in their cache.)
set(KILN_OPENBLAS_OPENMP_DIR /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp)
set(KILN_OPENBLAS_RUNPATH "")
if(EXISTS ${KILN_OPENBLAS_OPENMP_DIR}/pkgconfig/openblas.pc)
  set(ENV{PKG_CONFIG_PATH} "${KILN_OPENBLAS_OPENMP_DIR}/pkgconfig:$ENV{PKG_CONFIG_PATH}")
  set(KILN_OPENBLAS_RUNPATH ${KILN_OPENBLAS_OPENMP_DIR})
  message(STATUS "kiln: OpenBLAS, OpenMP build (${KILN_OPENBLAS_OPENMP_DIR})")
else()
  message(WARNING "kiln: Debian's OpenMP build of OpenBLAS (libopenblas-openmp-dev) is not installed; "
                  "the default build's threads contend with kiln's OpenMP threads and CPU training "
                  "runs about 2x slower")
endif()
pkg_check_modules(KILN_BLAS REQUIRED IMPORTED_TARGET openblas)

# CUDA backend: optional at configure time.
set(KILN_HAVE_CUDA OFF)
if(KILN_CUDA_EMULATION)
  # The CUDA, cuBLAS and cuDNN headers declare what the emulation implements; nvcc is not used
  # and no CUDA library is linked (cuda/emulation/CMakeLists.txt).
  find_package(CUDAToolkit REQUIRED)
  find_package(CUDNN REQUIRED)
  find_package(Boost 1.74 REQUIRED COMPONENTS context)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(KILN_HAVE_CUDA ON)
  set(KILN_CUDA_EMULATION_NOTE " (emulated on the CPU: KILN_CUDA_EMULATION)")
elseif(NOT KILN_WITH_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    # CMake before 3.26 does not know nvcc's C++20 flag (nvcc 12+ has it). Set here, at the top,
    # for every directory: the layer kiln_cuda compiles with it, and the executables that link
    # kiln's objects (kiln_internal) count CUDA among their languages.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit REQUIRED)
    find_package(CUDNN REQUIRED)
    set(KILN_HAVE_CUDA ON)
  elseif(KILN_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KILN_WITH_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "kiln: CUDA backend ${KILN_HAVE_CUDA}${KILN_CUDA_EMULATION_NOTE}")

# Files: HDF5 (C API) for weights and models, zlib for gzip'd IDX datasets.
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# Images: PNG (libpng) and JPEG (libjpeg-turbo) for read_image / write_png / write_jpeg.
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)

# libzip: Keras 3's native .keras archives (a zip of config.json, metadata.json, model.weights.h5).
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)

# Cairo: the CLI's pictures (training curves, confusion matrix, misclassified samples).
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)
