// File I/O helpers: atomic writes (temp file in the same directory, fsync, rename over the
// target, so a crash or an error never leaves a half-written file where a good one was), whole
// file reads with clear errors. JSON lives in io/json.h.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

namespace gbad {

// Writes `<path>.tmp.<pid>` next to `path`, then fflush + fsync + rename over `path`. Until
// commit() succeeds, `path` is untouched; if the object is destroyed before commit() (an
// exception while writing), the temporary file is removed. Every failure throws gbad::Error
// naming the path and the errno text.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(const std::string& s) { write(s.data(), s.size()); }
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }
  size_t bytes_written() const { return written_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  void discard() noexcept;
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  size_t written_ = 0;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, const std::string& bytes);
// Streaming variant: `fill` writes the content; if it throws, the temp file is removed, `path`
// is left as it was, and the exception propagates.
void write_file_atomic(const std::string& path, const std::function<void(AtomicFile&)>& fill);

// The whole file; throws naming the path and the errno text when it cannot be read.
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace gbad
