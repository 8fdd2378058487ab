// TensorBoard event files: CRC-32C against published test vectors, Event protobufs and record
// framing against bytes produced by TensorBoard's own protobuf classes and masked_crc32c
// (tensorboard 2.21, printed by a few lines of Python; see tools/check_tfevents.py).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "io/tfevents.h"
#include "st_test_util.h"

namespace gbad {
namespace {

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

TEST(TfEvents, Crc32cKnownAnswers) {
  // RFC 3720 B.4 and the common "123456789" check value.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xFF'), inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), inc.size()), 0x46DD794Eu);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(TfEvents, EventBytesMatchTensorBoardProtobuf) {
  EXPECT_EQ(hex(tf_event_scalars(1764500000.25, 42, {{"loss", 0.5f}, {"lr", 0.01f}})),
            "0900001088084bda41102a2a180a0b0a046c6f7373150000003f0a090a026c72150ad7233c");
  EXPECT_EQ(hex(tf_event_file_version(1764500000.25)),
            "0900001088084bda411a0d627261696e2e4576656e743a32");
}

TEST(TfEvents, RecordFramingMatchesMaskedCrcs) {
  const std::string ev = tf_event_scalars(1764500000.25, 42, {{"loss", 0.5f}, {"lr", 0.01f}});
  const std::string rec = tfrecord_frame(ev);
  ASSERT_EQ(rec.size(), 8 + 4 + ev.size() + 4);
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(rec[at + i]);
    return v;
  };
  EXPECT_EQ(static_cast<unsigned char>(rec[0]), ev.size());
  EXPECT_EQ(u32(8), 0xf336bceau);  // masked CRC of the length, from tensorboard's masked_crc32c
  EXPECT_EQ(rec.substr(12, ev.size()), ev);
  EXPECT_EQ(u32(12 + ev.size()), 0x3198ce97u);
}

TEST(TfEvents, WriterAppendsFramedRecords) {
  test::ScratchDir dir;
  std::string path;
  {
    TfEventsWriter w(dir.path());
    path = w.path();
    EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
    w.add(1, {{"loss", 1.f}});
    w.add(2, {});  // nothing to log: no record
    w.add(3, {{"loss", 0.25f}, {"images_per_s", 100.f}});
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t at = 0;
  int records = 0;
  while (at < bytes.size()) {
    ASSERT_GE(bytes.size() - at, 12u);
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[at + i]);
    ASSERT_LE(at + 16 + len, bytes.size());
    const std::string payload = bytes.substr(at + 12, len);
    EXPECT_EQ(tfrecord_frame(payload), bytes.substr(at, 16 + len));
    at += 16 + len;
    ++records;
  }
  EXPECT_EQ(records, 3);  // file_version + two scalar events
}

TEST(TfEvents, UnwritableDirectoryIsAClearError) {
  EXPECT_THROW(
      {
        try {
          TfEventsWriter w("/nonexistent-dir-for-gbad-test");
        } catch (const std::exception& e) {
          EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-for-gbad-test"),
                    std::string::npos);
          throw;
        }
      },
      std::exception);
}

}  // namespace
}  // namespace gbad
