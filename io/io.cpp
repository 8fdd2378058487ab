#include "io/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/check.h"

namespace gbad {

// ---- atomic writes -------------------------------------------------------------------------

namespace {

std::string dir_of(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path)
    : path_(path), tmp_(path + ".tmp." + std::to_string(static_cast<long>(::getpid()))) {
  GBAD_CHECK(!path.empty(), "cannot write a file with an empty path");
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail("cannot create temporary file '" + tmp_ + "'", errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (f_) {
    std::fclose(f_);
    f_ = nullptr;
  }
  std::remove(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
  discard();
  committed_ = true;  // nothing left to clean up
  GBAD_FAIL("cannot write '", path_, "': ", what, ": ", std::strerror(err));
}

void AtomicFile::write(const void* data, size_t bytes) {
  GBAD_CHECK(f_ != nullptr, "write to '", path_, "' after commit or failure");
  if (bytes == 0) return;
  if (std::fwrite(data, 1, bytes, f_) != bytes) fail("write failed", errno);
  written_ += bytes;
}

void AtomicFile::commit() {
  GBAD_CHECK(f_ != nullptr, "commit of '", path_, "' after commit or failure");
  if (std::fflush(f_) != 0) fail("flush failed", errno);
  if (::fsync(::fileno(f_)) != 0) fail("fsync failed", errno);
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) fail("close failed", errno);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("rename from '" + tmp_ + "' failed", errno);
  committed_ = true;
  // Make the rename itself durable; best effort (some filesystems refuse fsync on a directory).
  int dfd = ::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  AtomicFile f(path);
  f.write(bytes);
  f.commit();
}

void write_file_atomic(const std::string& path, const std::function<void(AtomicFile&)>& fill) {
  AtomicFile f(path);
  fill(f);  // on a throw, ~AtomicFile removes the temporary file
  f.commit();
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) GBAD_FAIL("cannot open '", path, "': ", std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof(buf), f);
    out.append(buf, n);
    if (n < sizeof(buf)) {
      if (std::ferror(f)) {
        int err = errno;
        std::fclose(f);
        GBAD_FAIL("cannot read '", path, "': ", std::strerror(err));
      }
      break;
    }
  }
  std::fclose(f);
  return out;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace gbad
