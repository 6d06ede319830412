// What a model file is, from its first bytes rather than its name: load_model takes a .keras zip,
// an HDF5 file or a Keras JSON architecture whatever they are called.
#pragma once

#include <string>

namespace kiln {

enum class FileKind { missing, directory, hdf5, zip, json, other };

FileKind file_kind(const std::string& path);

}  // namespace kiln
