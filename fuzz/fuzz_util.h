// Shared by the libFuzzer targets (one per reader of outside data; see scripts/fuzz.sh).
//
// The contract every reader keeps, whatever the bytes: a correct result, or one gbad::Error
// with a message. Anything else is a finding: a crash, a sanitizer report, a hang, an
// allocation over libFuzzer's -rss_limit_mb / -malloc_limit_mb, or an exception of another type
// (std::invalid_argument from std::stoi says "stoi", which is not a clear error), which
// expect_clean() lets escape so that libFuzzer reports it.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/check.h"

namespace gbad::fuzz {

// A scratch directory of this process under $TMPDIR, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    fs::path d = fs::temp_directory_path() / ("gbad-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    static const std::string keep = d.string();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(keep, ec);
    });
    return d.string();
  }();
  return dir;
}

// Writes the input to <scratch>/<rel> (the folders must exist) and returns its path.
inline std::string write_file(const std::string& rel, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + rel;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

template <typename F>
void expect_clean(F&& body) {
  try {
    body();
  } catch (const gbad::Error& e) {
    if (std::string(e.what()).empty()) std::abort();  // an error must say what is wrong
  }
}

}  // namespace gbad::fuzz
