// Zip archives through libzip, for Keras 3's native .keras format (a zip of config.json,
// metadata.json and model.weights.h5). Members are read whole into memory, with a size limit
// checked against the archive's directory before anything is allocated; archives are written with
// members stored uncompressed (as Python's zipfile writes them for Keras) and atomically.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

struct zip;  // libzip's archive handle (zip_t)

namespace kiln {

class ZipReader {
 public:
  // Opens `path` read-only; a missing file, a directory or a file that is not a zip archive is an
  // Error naming the path.
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  bool contains(const std::string& member) const;
  std::vector<std::string> member_names() const;
  // The member's bytes; a missing member, one larger than `max_bytes` or one that fails its CRC
  // is an Error naming the archive and the member.
  std::string read(const std::string& member, std::size_t max_bytes) const;

 private:
  std::string path_;
  ::zip* archive_ = nullptr;
};

// Writes a zip archive of `members` (name, bytes), in that order, to `path` atomically.
void write_zip_atomically(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& members);

}  // namespace kiln
