// Helpers shared by the safetensors and checkpoint tests: scratch directories and hand-built
// files.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "io/io.h"

namespace gbad::test {

// A fresh directory under the test temp dir, removed (with its files) at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "gbad_st_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    char* d = ::mkdtemp(buf.data());
    EXPECT_NE(d, nullptr) << "mkdtemp failed";
    path_ = d ? d : "";
  }
  ~ScratchDir() {
    for (const auto& f : files()) std::remove((path_ + "/" + f).c_str());
    ::rmdir(path_.c_str());
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    return out;
  }
  // Files whose name holds ".tmp." (leftovers of an atomic write).
  int temp_files() const {
    int n = 0;
    for (const auto& f : files()) n += f.find(".tmp.") != std::string::npos;
    return n;
  }

 private:
  std::string path_;
};

// A safetensors file from a literal JSON header (not padded) and data bytes.
inline std::string make_st(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(&out[0], &n, 8);
  return out + header + data;
}

inline std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  if (!v.empty()) std::memcpy(&s[0], v.data(), s.size());
  return s;
}

}  // namespace gbad::test
