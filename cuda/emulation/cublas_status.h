// What the cuBLAS (cublas.cpp) and cuBLASLt (cublaslt_*.cpp) stand-ins share: how an entry point
// fails (Note [Failures] in library_support.h) and the status texts (Note [Status strings] in
// cublas_status.cpp).
#pragma once

#include <cublas_v2.h>

#include <new>
#include <string>

#include "library_support.h"

namespace kiln::emu::cublas {

using CublasFailure = Failure<cublasStatus_t>;

// Records a failure of `call` (its fault, if any, and the text cublasGetStatusString gives) and
// returns its status.
cublasStatus_t report(const char* call, const CublasFailure& failure);

// Runs `body`, the work of the entry point `call` (Note [Failures] in library_support.h).
template <class Body>
cublasStatus_t run_cublas(const char* call, Body&& body) {
  try {
    body();
    return CUBLAS_STATUS_SUCCESS;
  } catch (const CublasFailure& failure) {
    return report(call, failure);
  } catch (const std::bad_alloc&) {
    return report(call, CublasFailure{CUBLAS_STATUS_ALLOC_FAILED, "host memory exhausted"});
  }
}

inline void require_value(bool condition, const std::string& message) {
  require(condition, CUBLAS_STATUS_INVALID_VALUE, message);
}

inline void require_supported(bool condition, const std::string& message) {
  require(condition, CUBLAS_STATUS_NOT_SUPPORTED, message);
}

// *value of an alpha / beta argument under the host pointer mode: a host float (INVALID_VALUE
// for NULL or a device pointer).
float host_scalar(const char* name, const void* value);

}  // namespace kiln::emu::cublas
