// HDF5 C API wrapper: handles, errors with file and object path, string attributes in both of
// the forms h5py writes, and checksummed numeric datasets.
#include "io/hdf5_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "core/check.h"

namespace kiln::h5 {
namespace {

// Chunks of at most this many bytes; a weight tensor is usually a single chunk.
constexpr std::uint64_t kChunkBytes = std::uint64_t{64} << 20;
// No attribute kiln reads comes near this (Keras splits name lists above 64 KB): a header that
// claims more is corrupt, and is rejected before the buffer is allocated.
constexpr std::uint64_t kMaxAttributeBytes = std::uint64_t{64} << 20;

herr_t keep_innermost(unsigned depth, const H5E_error2_t* error, void* data) {
  auto* reason = static_cast<std::string*>(data);
  if (depth == 0 && error->desc != nullptr) *reason = error->desc;
  return 0;
}

// The innermost message on HDF5's error stack; read it before any other HDF5 call clears it.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &reason);
  return reason.empty() ? std::string("HDF5 gave no reason") : reason;
}

std::string child_path(hid_t parent, const std::string& path) {
  std::string base = describe(parent);
  if (!base.empty() && base.back() == '/') return base + path;
  return base + "/" + path;
}

// Throws for a failed HDF5 call about `where` (computed after the reason is captured).
template <class Where>
[[noreturn]] void fail_hdf5(const Where& where_fn, const std::string& what) {
  std::string reason = hdf5_reason();
  fail("HDF5 {}: {}: {}", where_fn(), what, reason);
}

hid_t checked(hid_t id, hid_t object, const std::string& what) {
  if (id < 0) fail_hdf5([&] { return describe(object); }, what);
  return id;
}

void checked_status(herr_t status, hid_t object, const std::string& what) {
  if (status < 0) fail_hdf5([&] { return describe(object); }, what);
}

hid_t native_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::f64: return H5T_NATIVE_DOUBLE;
    case DType::u8: return H5T_NATIVE_UINT8;
    case DType::i32: return H5T_NATIVE_INT32;
  }
  fail("HDF5: unsupported dtype");
}

// Little-endian standard types, as numpy's '<f4', '<f8', '|u1', '<i4' are stored by h5py.
hid_t file_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return H5T_IEEE_F32LE;
    case DType::f64: return H5T_IEEE_F64LE;
    case DType::u8: return H5T_STD_U8LE;
    case DType::i32: return H5T_STD_I32LE;
  }
  fail("HDF5: unsupported dtype");
}

Handle simple_space(const Shape& shape) {
  if (shape.empty()) return Handle(H5Screate(H5S_SCALAR));
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
}

Handle fixed_string_type(std::size_t size) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), std::max<std::size_t>(size, 1));
  H5Tset_strpad(type.id(), H5T_STR_NULLPAD);
  H5Tset_cset(type.id(), H5T_CSET_ASCII);
  return type;
}

Handle variable_string_type() {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.id(), H5T_VARIABLE);
  H5Tset_cset(type.id(), H5T_CSET_UTF8);
  return type;
}

// Creates (replacing any old one) attribute `name` of `type` and writes `buffer`, whose elements
// are of `memory_type`.
void write_attribute(hid_t object, const std::string& name, hid_t type, hid_t memory_type,
                     hid_t space, const void* buffer) {
  silence_errors();
  if (H5Aexists(object, name.c_str()) > 0) {
    checked_status(H5Adelete(object, name.c_str()), object, "cannot replace attribute " + name);
  }
  Handle attribute(checked(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                           object, "cannot create attribute " + name));
  checked_status(H5Awrite(attribute.id(), memory_type, buffer), object,
                 "cannot write attribute " + name);
}

Handle open_attribute(hid_t object, const std::string& name) {
  silence_errors();
  KILN_CHECK(H5Aexists(object, name.c_str()) > 0, "HDF5 {}: attribute {} is missing",
             describe(object), name);
  return Handle(
      checked(H5Aopen(object, name.c_str(), H5P_DEFAULT), object, "cannot open attribute " + name));
}

std::string trim_fixed(const char* text, std::size_t size, H5T_str_t pad) {
  std::size_t length = 0;
  while (length < size && text[length] != '\0') ++length;
  if (pad == H5T_STR_SPACEPAD) {
    while (length > 0 && text[length - 1] == ' ') --length;
  }
  return std::string(text, length);
}

std::vector<std::string> read_variable_strings(hid_t attribute, hid_t object, hid_t file_type_id,
                                               hid_t space, std::size_t count,
                                               const std::string& name) {
  Handle memory(H5Tcopy(H5T_C_S1));
  H5Tset_size(memory.id(), H5T_VARIABLE);
  H5Tset_cset(memory.id(), H5Tget_cset(file_type_id));
  std::vector<char*> pointers(count, nullptr);
  checked_status(H5Aread(attribute, memory.id(), pointers.data()), object,
                 "cannot read string attribute " + name);
  std::vector<std::string> values;
  for (char* text : pointers) values.emplace_back(text != nullptr ? text : "");
#if H5_VERSION_GE(1, 12, 0)
  H5Treclaim(memory.id(), space, H5P_DEFAULT, pointers.data());
#else
  H5Dvlen_reclaim(memory.id(), space, H5P_DEFAULT, pointers.data());
#endif
  return values;
}

std::vector<std::string> read_fixed_strings(hid_t attribute, hid_t object, hid_t file_type_id,
                                            std::size_t count, const std::string& name) {
  std::size_t size = H5Tget_size(file_type_id);
  KILN_CHECK(size > 0 && count <= kMaxAttributeBytes / size,
             "HDF5 {}: attribute {}: {} strings of {} bytes, more than the {} bytes kiln reads",
             describe(object), name, count, size, kMaxAttributeBytes);
  H5T_str_t pad = H5Tget_strpad(file_type_id);
  Handle memory(H5Tcopy(file_type_id));
  std::vector<char> buffer(count * size);
  checked_status(H5Aread(attribute, memory.id(), buffer.data()), object,
                 "cannot read string attribute " + name);
  std::vector<std::string> values;
  for (std::size_t i = 0; i < count; ++i)
    values.push_back(trim_fixed(&buffer[i * size], size, pad));
  return values;
}

std::string type_name(hid_t type) {
  std::size_t bytes = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return fmt::format("float{}", 8 * bytes);
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", 8 * bytes);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    default: return "another HDF5 type";
  }
}

Shape chunk_shape(const Shape& shape, std::size_t element_bytes) {
  Shape chunk = shape;
  std::uint64_t row_bytes = element_bytes;
  for (std::size_t axis = 1; axis < shape.size(); ++axis) row_bytes *= shape[axis];
  std::uint64_t rows =
      std::max<std::uint64_t>(1, kChunkBytes / std::max<std::uint64_t>(row_bytes, 1));
  chunk[0] = static_cast<std::int64_t>(std::min<std::uint64_t>(rows, shape[0]));
  return chunk;
}

// Chunked with the Fletcher32 checksum, unless the shape has no chunkable extent (a scalar or an
// empty tensor), which is stored contiguous.
Handle dataset_creation(const Shape& shape, DType dtype) {
  Handle properties(H5Pcreate(H5P_DATASET_CREATE));
  bool chunkable = !shape.empty() && std::all_of(shape.begin(), shape.end(),
                                                 [](std::int64_t extent) { return extent > 0; });
  if (!chunkable) return properties;
  Shape chunk = chunk_shape(shape, dtype_size(dtype));
  std::vector<hsize_t> dims(chunk.begin(), chunk.end());
  H5Pset_chunk(properties.id(), static_cast<int>(dims.size()), dims.data());
  H5Pset_fletcher32(properties.id());
  // A chunk the file no longer indexes (a corrupt chunk B-tree) reads as the fill value: NaN, which
  // the weight readers reject, rather than zeros that would pass for weights.
  if (is_floating(dtype)) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    H5Pset_fill_value(properties.id(), H5T_NATIVE_DOUBLE, &nan);
  }
  return properties;
}

bool class_fits(H5T_class_t stored, DType dtype) {
  if (is_floating(dtype)) return stored == H5T_FLOAT;
  return stored == H5T_INTEGER;
}

// IEEE float32 or float64, little-endian: numpy's '<f4' / '<f8', what h5py and Keras write. A
// float type with any other size, byte order or bit layout would be converted into other numbers
// (a corrupt datatype message passes the data's checksum), and HDF5 1.10 crashes on some of them.
bool standard_float(hid_t type) {
  return H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F64LE) > 0;
}

// A chunked dataset's chunks must not exceed its fixed extent (HDF5 refuses to create such a
// dataset). A corrupt layout message that claims bigger chunks would make HDF5 1.10 take values
// from outside the stored chunk, which passed its checksum.
void check_chunks(hid_t dataset) {
  Handle properties(
      checked(H5Dget_create_plist(dataset), dataset, "cannot read the dataset's layout"));
  if (H5Pget_layout(properties.id()) != H5D_CHUNKED) return;
  Handle space(checked(H5Dget_space(dataset), dataset, "cannot read the dataspace"));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  checked_status(rank, dataset, "cannot read the dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), max_dims(dims), chunk(dims);
  H5Sget_simple_extent_dims(space.id(), dims.data(), max_dims.data());
  KILN_CHECK(H5Pget_chunk(properties.id(), rank, chunk.data()) == rank,
             "HDF5 {}: the chunk layout does not match the dataset's rank", describe(dataset));
  for (std::size_t axis = 0; axis < chunk.size(); ++axis) {
    KILN_CHECK(max_dims[axis] == H5S_UNLIMITED || chunk[axis] <= max_dims[axis],
               "HDF5 {}: chunks of {} along axis {} exceed the dataset's extent {} (a corrupt "
               "file?)",
               describe(dataset), chunk[axis], axis, max_dims[axis]);
  }
}

}  // namespace

Handle::~Handle() {
  if (valid()) {
    try {
      close();
    } catch (const Error&) {
      // A destructor cannot report; close() is called explicitly where failures matter.
    }
  }
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Handle old(id_);
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::close() {
  if (!valid()) return;
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  silence_errors();
  if (H5Iis_valid(id) <= 0) return;
  herr_t status = 0;
  switch (H5Iget_type(id)) {
    case H5I_FILE: status = H5Fclose(id); break;
    case H5I_GROUP: status = H5Gclose(id); break;
    case H5I_DATASET: status = H5Dclose(id); break;
    case H5I_ATTR: status = H5Aclose(id); break;
    case H5I_DATATYPE: status = H5Tclose(id); break;
    case H5I_DATASPACE: status = H5Sclose(id); break;
    case H5I_GENPROP_LST: status = H5Pclose(id); break;
    default: status = H5Idec_ref(id) < 0 ? -1 : 0; break;
  }
  if (status < 0) fail("HDF5: closing an object failed: {}", hdf5_reason());
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string describe(hid_t object) {
  std::string file;
  ssize_t file_length = H5Fget_name(object, nullptr, 0);
  if (file_length > 0) {
    file.resize(static_cast<std::size_t>(file_length) + 1);
    H5Fget_name(object, file.data(), file.size());
    file.resize(static_cast<std::size_t>(file_length));
  }
  std::string path;
  ssize_t path_length = H5Iget_name(object, nullptr, 0);
  if (path_length > 0) {
    path.resize(static_cast<std::size_t>(path_length) + 1);
    H5Iget_name(object, path.data(), path.size());
    path.resize(static_cast<std::size_t>(path_length));
  }
  if (file.empty()) return path.empty() ? std::string("<unknown object>") : path;
  return file + ":" + (path.empty() ? std::string("/") : path);
}

Handle create_file(const std::string& path) {
  silence_errors();
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) fail_hdf5([&] { return path; }, "cannot create the file");
  return Handle(file);
}

Handle open_file(const std::string& path) {
  silence_errors();
  std::error_code error;
  KILN_CHECK(std::filesystem::is_regular_file(path, error), "HDF5 {}: no such file", path);
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  KILN_CHECK(is_hdf5 > 0,
             "HDF5 {}: not an HDF5 file (no HDF5 signature found: the file is of another kind, "
             "truncated or corrupt)",
             path);
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) fail_hdf5([&] { return path; }, "cannot open the file (truncated or corrupt?)");
  return Handle(file);
}

Handle create_group(hid_t parent, const std::string& path) {
  silence_errors();
  Handle links(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(links.id(), 1);
  hid_t group = H5Gcreate2(parent, path.c_str(), links.id(), H5P_DEFAULT, H5P_DEFAULT);
  if (group < 0) fail_hdf5([&] { return child_path(parent, path); }, "cannot create group");
  return Handle(group);
}

bool link_exists(hid_t parent, const std::string& path) {
  silence_errors();
  if (path.empty()) return false;
  std::size_t slash = 0;
  while (true) {
    slash = path.find('/', slash);
    std::string prefix = path.substr(0, slash);
    if (H5Lexists(parent, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (slash == std::string::npos) return true;
    ++slash;
  }
}

Handle open_group(hid_t parent, const std::string& path) {
  KILN_CHECK(link_exists(parent, path), "HDF5 {}: group is missing", child_path(parent, path));
  hid_t group = H5Gopen2(parent, path.c_str(), H5P_DEFAULT);
  if (group < 0) fail_hdf5([&] { return child_path(parent, path); }, "cannot open as a group");
  return Handle(group);
}

bool has_attribute(hid_t object, const std::string& name) {
  silence_errors();
  return H5Aexists(object, name.c_str()) > 0;
}

void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            StringStorage storage) {
  Handle space(H5Screate(H5S_SCALAR));
  if (storage == StringStorage::variable_length) {
    Handle type = variable_string_type();
    const char* text = value.c_str();
    write_attribute(object, name, type.id(), type.id(), space.id(), &text);
    return;
  }
  Handle type = fixed_string_type(value.size());
  std::vector<char> buffer(std::max<std::size_t>(value.size(), 1), '\0');
  std::copy(value.begin(), value.end(), buffer.begin());
  write_attribute(object, name, type.id(), type.id(), space.id(), buffer.data());
}

void write_string_list_attribute(hid_t object, const std::string& name,
                                 const std::vector<std::string>& values) {
  std::size_t size = 1;
  for (const std::string& value : values) size = std::max(size, value.size());
  Handle type = fixed_string_type(size);
  hsize_t count = values.size();
  Handle space(H5Screate_simple(1, &count, nullptr));
  std::vector<char> buffer(std::max<std::size_t>(values.size() * size, 1), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::copy(values[i].begin(), values[i].end(), buffer.begin() + i * size);
  }
  write_attribute(object, name, type.id(), type.id(), space.id(), buffer.data());
}

std::vector<std::string> read_string_list_attribute(hid_t object, const std::string& name) {
  Handle attribute = open_attribute(object, name);
  Handle space(checked(H5Aget_space(attribute.id()), object, "cannot read attribute " + name));
  hssize_t points = H5Sget_simple_extent_npoints(space.id());
  if (H5Sget_simple_extent_type(space.id()) == H5S_NULL || points == 0) return {};
  Handle type(checked(H5Aget_type(attribute.id()), object, "cannot read attribute " + name));
  KILN_CHECK(H5Tget_class(type.id()) == H5T_STRING,
             "HDF5 {}: attribute {}: expected strings, found {}", describe(object), name,
             type_name(type.id()));
  KILN_CHECK(points > 0 && static_cast<std::uint64_t>(points) <= kMaxAttributeBytes / sizeof(char*),
             "HDF5 {}: attribute {}: cannot read {} strings", describe(object), name, points);
  auto count = static_cast<std::size_t>(points);
  if (H5Tis_variable_str(type.id()) > 0) {
    return read_variable_strings(attribute.id(), object, type.id(), space.id(), count, name);
  }
  return read_fixed_strings(attribute.id(), object, type.id(), count, name);
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  std::vector<std::string> values = read_string_list_attribute(object, name);
  KILN_CHECK(values.size() == 1, "HDF5 {}: attribute {}: expected one string, found {}",
             describe(object), name, values.size());
  return values[0];
}

void write_int64_attribute(hid_t object, const std::string& name, std::int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  write_attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, space.id(), &value);
}

std::int64_t read_int64_attribute(hid_t object, const std::string& name) {
  Handle attribute = open_attribute(object, name);
  Handle space(checked(H5Aget_space(attribute.id()), object, "cannot read attribute " + name));
  Handle type(checked(H5Aget_type(attribute.id()), object, "cannot read attribute " + name));
  KILN_CHECK(
      H5Tget_class(type.id()) == H5T_INTEGER && H5Sget_simple_extent_npoints(space.id()) == 1,
      "HDF5 {}: attribute {}: expected one integer, found {}", describe(object), name,
      type_name(type.id()));
  std::int64_t value = 0;
  checked_status(H5Aread(attribute.id(), H5T_NATIVE_INT64, &value), object,
                 "cannot read attribute " + name);
  return value;
}

void write_dataset(hid_t parent, const std::string& path, DType dtype, const void* values,
                   const Shape& shape) {
  silence_errors();
  Handle space = simple_space(shape);
  Handle properties = dataset_creation(shape, dtype);
  Handle links(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(links.id(), 1);
  hid_t id = H5Dcreate2(parent, path.c_str(), file_type(dtype), space.id(), links.id(),
                        properties.id(), H5P_DEFAULT);
  if (id < 0) fail_hdf5([&] { return child_path(parent, path); }, "cannot create dataset");
  Handle dataset(id);
  if (H5Dwrite(dataset.id(), native_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    fail_hdf5([&] { return child_path(parent, path); }, "cannot write dataset");
  }
  dataset.close();
}

Handle open_dataset(hid_t parent, const std::string& path) {
  KILN_CHECK(link_exists(parent, path), "HDF5 {}: dataset is missing", child_path(parent, path));
  hid_t id = H5Dopen2(parent, path.c_str(), H5P_DEFAULT);
  if (id < 0) fail_hdf5([&] { return child_path(parent, path); }, "cannot open as a dataset");
  return Handle(id);
}

Shape dataset_shape(hid_t dataset) {
  silence_errors();
  Handle space(checked(H5Dget_space(dataset), dataset, "cannot read the dataspace"));
  int rank = H5Sget_simple_extent_ndims(space.id());
  checked_status(rank, dataset, "cannot read the dataspace");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

std::string dataset_type_name(hid_t dataset) {
  silence_errors();
  Handle type(checked(H5Dget_type(dataset), dataset, "cannot read the element type"));
  return type_name(type.id());
}

void read_dataset(hid_t dataset, DType dtype, void* values) {
  silence_errors();
  Handle type(checked(H5Dget_type(dataset), dataset, "cannot read the element type"));
  KILN_CHECK(class_fits(H5Tget_class(type.id()), dtype), "HDF5 {}: expected {} data, found {}",
             describe(dataset), dtype_name(dtype), type_name(type.id()));
  KILN_CHECK(!is_floating(dtype) || standard_float(type.id()),
             "HDF5 {}: expected little-endian IEEE float32 or float64 data, found a {} type of "
             "another size, byte order or layout (a corrupt file?)",
             describe(dataset), type_name(type.id()));
  check_chunks(dataset);
  if (H5Dread(dataset, native_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
    fail_hdf5([&] { return describe(dataset); },
              "cannot read the data (corrupt file: checksum or decompression failure?)");
  }
}

}  // namespace kiln::h5
