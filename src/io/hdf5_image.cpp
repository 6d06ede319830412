// HDF5 files held in memory (the core driver without a backing store): the weights inside a Keras
// 3 .keras archive are an HDF5 file stored as a zip member, read and written without temp files.
#include <cstring>
#include <string>

#include "core/check.h"
#include "io/hdf5_file.h"

namespace kiln::h5 {
namespace {

// Grow the in-memory file in steps of this many bytes.
constexpr std::size_t kCoreIncrement = std::size_t{1} << 20;

Handle core_access(const std::string& name) {
  Handle access(H5Pcreate(H5P_FILE_ACCESS));
  KILN_CHECK(access.valid() && H5Pset_fapl_core(access.id(), kCoreIncrement, 0) >= 0,
             "HDF5 {}: cannot set up an in-memory file", name);
  return access;
}

// The 8-byte signature every HDF5 file starts with (at offset 0 for the files kiln reads).
bool has_hdf5_signature(const std::string& image) {
  static const char kSignature[] = "\x89HDF\r\n\x1a\n";
  return image.size() >= 8 && std::memcmp(image.data(), kSignature, 8) == 0;
}

}  // namespace

Handle open_file_image(const std::string& image, const std::string& name) {
  silence_errors();
  KILN_CHECK(has_hdf5_signature(image),
             "HDF5 {}: not an HDF5 file (no HDF5 signature in its {} bytes)", name, image.size());
  Handle access = core_access(name);
  KILN_CHECK(H5Pset_file_image(access.id(), const_cast<char*>(image.data()), image.size()) >= 0,
             "HDF5 {}: cannot hand the file's {} bytes to HDF5", name, image.size());
  hid_t file = H5Fopen(name.c_str(), H5F_ACC_RDONLY, access.id());
  KILN_CHECK(file >= 0, "HDF5 {}: cannot open the file (truncated or corrupt?)", name);
  return Handle(file);
}

Handle create_memory_file(const std::string& name) {
  silence_errors();
  Handle access = core_access(name);
  hid_t file = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.id());
  KILN_CHECK(file >= 0, "HDF5 {}: cannot create an in-memory file", name);
  return Handle(file);
}

std::string file_image(hid_t file) {
  KILN_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0, "HDF5 {}: cannot flush the in-memory file",
             describe(file));
  const ssize_t size = H5Fget_file_image(file, nullptr, 0);
  KILN_CHECK(size > 0, "HDF5 {}: cannot read back the in-memory file", describe(file));
  std::string image(static_cast<std::size_t>(size), '\0');
  KILN_CHECK(H5Fget_file_image(file, image.data(), image.size()) == size,
             "HDF5 {}: cannot read back the in-memory file", describe(file));
  return image;
}

}  // namespace kiln::h5
