// file_kind: the zip local-header magic "PK\3\4" (or an empty archive's "PK\5\6"), HDF5's own
// signature test (H5Fis_hdf5, which also finds a signature after a user block), a '{' as the
// first non-blank byte for JSON.
#include "io/file_kind.h"

#include <hdf5.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include "io/hdf5_file.h"

namespace kiln {

FileKind file_kind(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return FileKind::directory;
  if (!std::filesystem::is_regular_file(path, error)) return FileKind::missing;
  std::ifstream in(path, std::ios::binary);
  char head[4] = {};
  in.read(head, sizeof head);
  if (in.gcount() == 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))) {
    return FileKind::zip;
  }
  h5::silence_errors();
  if (H5Fis_hdf5(path.c_str()) > 0) return FileKind::hdf5;
  in.clear();
  in.seekg(0);
  char c = 0;
  while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  return in && c == '{' ? FileKind::json : FileKind::other;
}

}  // namespace kiln
