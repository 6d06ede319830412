// The cuBLAS and cuBLASLt stand-ins' failures and status texts (cublas_status.h):
// cublasGetStatusName, cublasGetStatusString, cublasLtGetStatusName, cublasLtGetStatusString.
//
// Note [Status strings]
// ~~~~~~~~~~~~~~~~~~~~~
// cuBLAS has no error-message call, so, as the emulated cudaGetErrorString does (Note [Errors] in
// errors.cpp), cublasGetStatusString (and cublasLtGetStatusString) of the calling thread's last
// failing status gives the standard text plus what was wrong; kiln's CHECK_CUBLAS message then
// names the call and the argument, for cuBLAS and cuBLASLt calls alike.
#include "cublas_status.h"

#include <cublasLt.h>

#include <cstring>
#include <string>

#include "emulator.h"

namespace kiln::emu::cublas {

namespace {

thread_local cublasStatus_t last_status = CUBLAS_STATUS_SUCCESS;  // Note [Status strings]
thread_local std::string last_text;

const char* standard_text(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "an error was detected when checking the license";
  }
  return "unknown cuBLAS status";
}

const char* status_name(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

// Note [Status strings].
const char* status_string(cublasStatus_t status) {
  if (status != CUBLAS_STATUS_SUCCESS && status == last_status) return last_text.c_str();
  return standard_text(status);
}

}  // namespace

cublasStatus_t report(const char* call, const CublasFailure& failure) {
  const std::string message = std::string(call) + ": " + failure.message;
  if (failure.fault != cudaSuccess) record_fault(failure.fault, message);
  last_status = failure.status;
  last_text = std::string(standard_text(failure.status)) + " (" + message + ")";
  return failure.status;
}

float host_scalar(const char* name, const void* value) {
  require_value(value != nullptr, std::string(name) + " is NULL");
  require_value(!is_device_pointer(value), std::string(name) +
                                               " points to device memory, but the pointer mode "
                                               "is CUBLAS_POINTER_MODE_HOST");
  float scalar = 0.0f;
  std::memcpy(&scalar, value, sizeof(scalar));
  return scalar;
}

}  // namespace kiln::emu::cublas

using namespace kiln::emu::cublas;

const char* cublasGetStatusName(cublasStatus_t status) { return status_name(status); }

const char* cublasGetStatusString(cublasStatus_t status) { return status_string(status); }

const char* cublasLtGetStatusName(cublasStatus_t status) { return status_name(status); }

const char* cublasLtGetStatusString(cublasStatus_t status) { return status_string(status); }
