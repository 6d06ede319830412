// libzip behind ZipReader and write_zip_atomically (io/zip_archive.h).
#include "io/zip_archive.h"

#include <zip.h>

#include <filesystem>

#include "core/check.h"
#include "io/atomic_file.h"

namespace kiln {
namespace {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// Closes an archive being written without writing it (after a failure).
struct DiscardOnError {
  zip_t* archive;
  ~DiscardOnError() {
    if (archive != nullptr) zip_discard(archive);
  }
};

}  // namespace

ZipReader::ZipReader(const std::string& path) : path_(path) {
  std::error_code error;
  KILN_CHECK(!std::filesystem::is_directory(path, error),
             "{}: is a directory; kiln reads a .keras model as the zip archive Keras 3 writes by "
             "default (Keras's directory form is not supported: zip it, or save with "
             "model.save(\"x.keras\"))",
             path);
  KILN_CHECK(std::filesystem::is_regular_file(path, error), "{}: no such file", path);
  int code = 0;
  archive_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  KILN_CHECK(archive_ != nullptr, "{}: not a readable zip archive: {}", path, zip_error_text(code));
}

ZipReader::~ZipReader() {
  if (archive_ != nullptr) zip_discard(archive_);
}

bool ZipReader::contains(const std::string& member) const {
  return zip_name_locate(archive_, member.c_str(), 0) >= 0;
}

std::vector<std::string> ZipReader::member_names() const {
  std::vector<std::string> names;
  const zip_int64_t count = zip_get_num_entries(archive_, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), 0);
    if (name != nullptr) names.emplace_back(name);
  }
  return names;
}

std::string ZipReader::read(const std::string& member, std::size_t max_bytes) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  KILN_CHECK(zip_stat(archive_, member.c_str(), 0, &stat) == 0 && (stat.valid & ZIP_STAT_SIZE),
             "{}: the archive has no member {} (members: {})", path_, member,
             fmt::join(member_names(), ", "));
  KILN_CHECK(stat.size <= max_bytes, "{}: member {} holds {} bytes, more than the {} kiln reads",
             path_, member, stat.size, max_bytes);
  zip_file_t* file = zip_fopen(archive_, member.c_str(), 0);
  KILN_CHECK(file != nullptr, "{}: cannot open member {}: {}", path_, member,
             zip_strerror(archive_));
  std::string bytes(static_cast<std::size_t>(stat.size), '\0');
  const zip_int64_t got = zip_fread(file, bytes.data(), bytes.size());
  const std::string reason = got < 0 ? zip_file_strerror(file) : "";
  const int closed = zip_fclose(file);  // reports a CRC mismatch
  KILN_CHECK(got == static_cast<zip_int64_t>(bytes.size()) && closed == 0,
             "{}: member {} is corrupt or truncated (read {} of {} bytes{}{})", path_, member, got,
             bytes.size(), reason.empty() ? "" : ": ",
             reason.empty() ? zip_error_text(closed) : reason);
  return bytes;
}

void write_zip_atomically(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& members) {
  write_file_atomically(path, [&](const std::string& temp) {
    int code = 0;
    zip_t* archive = zip_open(temp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    KILN_CHECK(archive != nullptr, "{}: cannot create a zip archive: {}", temp,
               zip_error_text(code));
    DiscardOnError guard{archive};
    for (const auto& [name, bytes] : members) {
      zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
      KILN_CHECK(source != nullptr, "{}: cannot add {}: {}", path, name, zip_strerror(archive));
      const zip_int64_t index = zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8);
      if (index < 0) zip_source_free(source);
      KILN_CHECK(index >= 0 && zip_set_file_compression(archive, static_cast<zip_uint64_t>(index),
                                                        ZIP_CM_STORE, 0) == 0,
                 "{}: cannot add {}: {}", path, name, zip_strerror(archive));
    }
    KILN_CHECK(zip_close(archive) == 0, "{}: cannot write the zip archive: {}", path,
               zip_strerror(archive));
    guard.archive = nullptr;
  });
}

}  // namespace kiln
