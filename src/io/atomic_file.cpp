// Temp file (mkstemp in the same directory), fsync, rename, fsync of the directory; the temp file
// is removed on every failure path, and temp files of the same path that a killed writer left
// behind are removed once a write succeeds.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/check.h"

namespace kiln {
namespace {

std::string parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// The temp files of `path` are named <prefix>XXXXXX (mkstemp's six characters).
std::string temp_prefix(const std::string& path) {
  return fmt::format(".{}.tmp-", std::filesystem::path(path).filename().string());
}

// Creates an empty, uniquely named file beside `path` and returns its name.
std::string make_temp_file(const std::string& path) {
  std::string temp_name = temp_prefix(path) + "XXXXXX";
  std::string pattern = (std::filesystem::path(parent_dir(path)) / temp_name).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  KILN_CHECK(fd >= 0, "cannot write {}: cannot create a temp file in {}: {}", path,
             parent_dir(path), std::strerror(errno));
  close(fd);
  return name.data();
}

void sync_path(const std::string& path, int flags, const std::string& target, const char* what) {
  int fd = open(path.c_str(), flags);
  KILN_CHECK(fd >= 0, "cannot write {}: cannot open {} {} to sync it: {}", target, what, path,
             std::strerror(errno));
  int status = fsync(fd);
  int sync_errno = errno;
  close(fd);
  KILN_CHECK(status == 0, "cannot write {}: fsync of {} {} failed: {}", target, what, path,
             std::strerror(sync_errno));
}

// The mode a new file gets (0644), or the one of the file being replaced.
mode_t final_mode(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) == 0) return info.st_mode & 07777;
  return 0644;
}

void commit(const std::string& temp, const std::string& path) {
  KILN_CHECK(chmod(temp.c_str(), final_mode(path)) == 0, "cannot write {}: chmod of {} failed: {}",
             path, temp, std::strerror(errno));
  sync_path(temp, O_RDONLY, path, "temp file");
  KILN_CHECK(std::rename(temp.c_str(), path.c_str()) == 0,
             "cannot write {}: renaming the temp file {} over it failed: {}", path, temp,
             std::strerror(errno));
  sync_path(parent_dir(path), O_RDONLY | O_DIRECTORY, path, "directory");
}

void write_all(const std::string& temp, std::string_view contents, const std::string& path) {
  int fd = open(temp.c_str(), O_WRONLY | O_TRUNC);
  KILN_CHECK(fd >= 0, "cannot write {}: cannot open temp file {}: {}", path, temp,
             std::strerror(errno));
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t wrote = ::write(fd, contents.data() + done, contents.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      int write_errno = errno;
      close(fd);
      fail("cannot write {}: writing temp file {} failed: {}", path, temp,
           std::strerror(write_errno));
    }
    done += static_cast<std::size_t>(wrote);
  }
  KILN_CHECK(close(fd) == 0, "cannot write {}: closing temp file {} failed: {}", path, temp,
             std::strerror(errno));
}

// Removes the temp files of `path` that a writer killed mid-write (SIGKILL, power loss) left in
// its directory. Best effort: a file that cannot be removed stays.
void remove_stale_temp_files(const std::string& path) {
  const std::string prefix = temp_prefix(path);
  std::error_code error;
  std::filesystem::directory_iterator entry(parent_dir(path), error);
  for (; !error && entry != std::filesystem::directory_iterator(); entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0) {
      std::error_code ignored;
      std::filesystem::remove(entry->path(), ignored);
    }
  }
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& temp_path)>& write) {
  KILN_CHECK(!path.empty(), "write_file_atomically: empty path");
  std::string temp = make_temp_file(path);
  try {
    write(temp);
    commit(temp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
  remove_stale_temp_files(path);
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  write_file_atomically(path, [&](const std::string& temp) { write_all(temp, contents, path); });
}

}  // namespace kiln
