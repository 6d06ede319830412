// A small RAII layer over the HDF5 C API: handles that close themselves, and the few file, group,
// attribute and dataset operations kiln needs. Every failure is a kiln::Error naming the file and
// the object path ("weights.h5:/dense/dense/kernel:0") with HDF5's own innermost reason; HDF5's
// automatic printing of its error stack is switched off.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/dtype.h"
#include "kiln/shape.h"

namespace kiln::h5 {

// Owns one HDF5 identifier (file, group, dataset, attribute, datatype, dataspace or property
// list) and closes it with the matching H5*close. Move-only.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle();
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports a failure (for a file: data that could not be flushed) as an Error.
  void close();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Switches off HDF5's printing of its error stack to stderr (kiln raises Errors instead).
void silence_errors();
// "file.h5:/group/object" for messages; falls back to what HDF5 can tell.
std::string describe(hid_t object);

// Files. create_file truncates an existing file; open_file opens read-only and checks that the
// file exists and is HDF5.
Handle create_file(const std::string& path);
Handle open_file(const std::string& path);
// In-memory files (HDF5's core driver, no backing store): open_file_image opens a copy of `image`
// (a whole HDF5 file's bytes, e.g. a member of a zip archive) read-only; create_memory_file makes
// an empty writable file and file_image returns its bytes once written. `name` is only for
// messages. Implemented in hdf5_image.cpp.
Handle open_file_image(const std::string& image, const std::string& name);
Handle create_memory_file(const std::string& name);
std::string file_image(hid_t file);

// Groups. `path` is relative to `parent` and may have several components; create_group makes the
// missing intermediate groups.
Handle create_group(hid_t parent, const std::string& path);
Handle open_group(hid_t parent, const std::string& path);
// True when every component of `path` exists below `parent` (links only, no object is opened).
bool link_exists(hid_t parent, const std::string& path);

// Attributes.
enum class StringStorage { fixed_length, variable_length };
bool has_attribute(hid_t object, const std::string& name);
// A scalar string: fixed-length (numpy bytes, as Keras writes `.encode("utf8")` values) or
// variable-length UTF-8 (as h5py writes a Python str).
void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            StringStorage storage = StringStorage::fixed_length);
// A 1-D array of fixed-length strings (a numpy bytes array, as Keras writes name lists).
void write_string_list_attribute(hid_t object, const std::string& name,
                                 const std::vector<std::string>& values);
// Reads fixed- or variable-length strings, scalar or any rank (flattened). An attribute with no
// elements reads as an empty list whatever its type (Keras writes an empty float64 array for a
// layer without weights).
std::vector<std::string> read_string_list_attribute(hid_t object, const std::string& name);
// Exactly one string (a scalar or a one-element array).
std::string read_string_attribute(hid_t object, const std::string& name);
void write_int64_attribute(hid_t object, const std::string& name, std::int64_t value);
std::int64_t read_int64_attribute(hid_t object, const std::string& name);

// Datasets. write_dataset stores `values` (host memory of `dtype`, row-major `shape`) chunked and
// protected by the Fletcher32 checksum, so a corrupted byte fails the read; float datasets have
// the fill value NaN, so a chunk lost from a corrupt index does not read as zeros. read_dataset
// converts the file's numbers to `dtype` (HDF5's conversions); a class mismatch (a string dataset
// read as numbers, floats read as integers) is an Error, and so are a float type other than
// little-endian IEEE float32 / float64 and chunks larger than the dataset.
void write_dataset(hid_t parent, const std::string& path, DType dtype, const void* values,
                   const Shape& shape);
Handle open_dataset(hid_t parent, const std::string& path);
Shape dataset_shape(hid_t dataset);
// "float32", "float64", "int32", "string", ... : the stored element type, for messages and checks.
std::string dataset_type_name(hid_t dataset);
void read_dataset(hid_t dataset, DType dtype, void* values);

}  // namespace kiln::h5
