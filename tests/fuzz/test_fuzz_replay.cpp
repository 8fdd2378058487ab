// Replays the committed fuzz corpus (fuzz/corpus/<target>/: valid seeds, known-bad files and
// every input a fuzzer once crashed on) through the fuzz targets' own entry points, in the
// ordinary test build: each reader must give a result or a gbad::Error for every file, so a
// fixed finding stays fixed without clang or libFuzzer (and under scripts/test.sh --sanitize).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#define GBAD_FUZZ_TARGETS(X) \
  X(fuzz_split_csv)          \
  X(fuzz_image)              \
  X(fuzz_pack)               \
  X(fuzz_safetensors)        \
  X(fuzz_checkpoint) X(fuzz_pretrained) X(fuzz_run_config) X(fuzz_scores_csv) X(fuzz_svm_model)

#define GBAD_DECLARE(t) extern "C" int t##_one_input(const uint8_t* data, size_t size);
GBAD_FUZZ_TARGETS(GBAD_DECLARE)

namespace {

namespace fs = std::filesystem;

void replay(const std::string& target, int (*one)(const uint8_t*, size_t)) {
  const fs::path dir = fs::path(GBAD_SOURCE_DIR) / "fuzz" / "corpus" / target;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                     std::istreambuf_iterator<char>());
    SCOPED_TRACE(e.path().string());
    EXPECT_EQ(one(bytes.data(), bytes.size()), 0);
    ++files;
  }
  EXPECT_GE(files, 3) << "the corpus of " << target << " should hold seeds and known-bad files";
}

#define GBAD_TEST(t)           \
  TEST(FuzzReplay, t) {        \
    replay(#t, t##_one_input); \
  }
GBAD_FUZZ_TARGETS(GBAD_TEST)

}  // namespace
