// The limits on outside data (README, "Hardening"): each is enforced with a clear error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/check.h"
#include "data/image.h"
#include "data/sixray.h"
#include "eval/scores_csv.h"
#include "io/io.h"
#include "io/lines.h"
#include "io/safetensors.h"

namespace gbad {
namespace {

namespace fs = std::filesystem;

std::string corpus(const std::string& target, const std::string& name) {
  return (fs::path(GBAD_SOURCE_DIR) / "fuzz" / "corpus" / target / name).string();
}

std::string scratch(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::path(::testing::TempDir()) / ("gbad_limits_" + name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kHeader = "name,Gun,Knife,Wrench,Pliers,Scissors\n";

TEST(Limits, SplitCsvLineLongerThanTheLimitIsReported) {
  const std::string path =
      scratch("split.csv", kHeader + "P1,1,-1,-1,-1,-1\n" + std::string(kMaxCsvLineBytes + 1, 'x'));
  SplitCsv csv = read_split_csv(path);
  ASSERT_EQ(csv.problems.size(), 1u);
  EXPECT_NE(csv.problems[0].find(":3: line longer than 65536 bytes"), std::string::npos)
      << csv.problems[0];
  EXPECT_EQ(csv.stems.size(), 1u);  // the rows before it were read
  // A line of exactly the limit is fine (and malformed for other reasons).
  const std::string ok = scratch("split2.csv", kHeader + std::string(kMaxCsvLineBytes, 'x'));
  EXPECT_EQ(read_split_csv(ok).problems.at(0).find("line longer"), std::string::npos);
}

TEST(Limits, ScoresCsvLineLongerThanTheLimitIsAnError) {
  const std::string path = scratch("scores.csv", kHeader + std::string(100000, '1'));
  const std::string e = error_of([&] { read_scores_csv(path); });
  EXPECT_NE(e.find(":2: line longer than 65536 bytes"), std::string::npos) << e;
}

TEST(Limits, ImageLargerThanThePixelLimitIsRefusedBeforeDecoding) {
  std::string e = error_of([] { decode_image(corpus("fuzz_image", "bad-over-pixel-limit.png")); });
  EXPECT_NE(e.find("16000x16000 pixels; the limits are 16384 a side and 33554432 in all"),
            std::string::npos)
      << e;
  e = error_of([] { decode_image(corpus("fuzz_image", "bad-huge-dims.jpg")); });
  EXPECT_NE(e.find("65535x65535 pixels"), std::string::npos) << e;
}

TEST(Limits, ImagesStbImageWouldMishandleAreRefused) {
  std::string e =
      error_of([] { decode_image(corpus("fuzz_image", "crash-stb-dht-count-over-256.jpg")); });
  EXPECT_NE(e.find("corrupt JPEG: Huffman table declares 1614 codes (at most 256)"),
            std::string::npos)
      << e;
  // The same table behind scan data with "FF FF .. 00" (a stuffed FF after fill bytes, which
  // stb_image reads as data, not as a marker).
  e = error_of(
      [] { decode_image(corpus("fuzz_image", "crash-stb-dht-after-stuffed-ff-fill.jpg")); });
  EXPECT_NE(e.find("corrupt JPEG: Huffman table declares"), std::string::npos) << e;
  // A scan that uses a Huffman table no DHT defined (stb_image reads its uninitialised table).
  e = error_of([] {
    decode_image(corpus("fuzz_image", "crash-stb-scan-uses-undefined-huffman-table.jpg"));
  });
  EXPECT_NE(e.find("corrupt JPEG: a scan uses a Huffman table that no DHT segment defined"),
            std::string::npos)
      << e;
  e = error_of([] { decode_image(corpus("fuzz_image", "oom-stb-png-idat-length-2gib.png")); });
  EXPECT_NE(e.find("corrupt PNG: chunk of 1417174578 bytes runs past the end of the file"),
            std::string::npos)
      << e;
}

TEST(Limits, SafetensorsTensorMayNotDeclareMoreThanTheFileHolds) {
  const std::string e = error_of([] {
    SafeTensorsFile::open(corpus("fuzz_safetensors", "bad-empty-huge-shape.safetensors"));
  });
  EXPECT_NE(e.find("tensor 'e': shape [4611686018427387904, 2, 0] of U8 is too large: it declares "
                   "more bytes than "
                   "the whole file has"),
            std::string::npos)
      << e;
}

}  // namespace
}  // namespace gbad
