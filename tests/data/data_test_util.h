// Helpers for the data tests: temporary folders and small files.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/image.h"

namespace gbad::test {

// A fresh empty folder under the build tree, named after the running test.
inline std::filesystem::path fresh_dir(const std::string& tag = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(GBAD_BINARY_DIR) / "tests" / "tmp_data" /
                            (std::string(info->test_suite_name()) + "." + info->name() + tag);
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline void write_text(const std::filesystem::path& p, const std::string& s) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << s;
}

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A small JPEG of a colour gradient.
inline void write_jpeg(const std::filesystem::path& p, int w = 24, int h = 20, int seed = 0) {
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(size_t(y) * w + x) * 3 + c] =
            static_cast<uint8_t>((x * 9 + y * 5 + c * 60 + seed * 31) % 256);
  auto bytes = encode_jpeg(img, 90);
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace gbad::test
