// kiln::Error: the exception type the library throws. Its message says what was expected, what
// was found and where (op, layer, file). OutOfMemoryError, one kind of it, lets a program catch
// an allocation that did not fit and carry on, e.g. with a smaller batch.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kiln/export.h"

namespace kiln {

class KILN_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);
};

// An allocation that did not fit, even after the allocator freed its cache and retried once
// (as torch.cuda.OutOfMemoryError). Nothing allocated before it is touched: tensors stay valid
// and the allocator keeps working.
class KILN_API OutOfMemoryError : public Error {
 public:
  // `layer` is the name of the layer being run, or "" when none is known (yet).
  OutOfMemoryError(const std::string& message, std::size_t requested_bytes,
                   const std::string& layer = "");
  // The bytes asked for by the allocation that failed.
  std::size_t requested_bytes() const;
  // Name of the layer (forward or backward pass) that asked for them; "" outside any layer.
  const std::string& layer() const;

 private:
  std::size_t requested_bytes_;
  std::string layer_;
};

}  // namespace kiln
