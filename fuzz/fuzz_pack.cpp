// gbad-pack files (data/pack.h): Pack::open, every record's pixels, and the match against a
// small split, as the loader does with --pack. Each input runs twice: as given (mostly refused
// by a checksum), and with the index and trailer checksums recomputed where the trailer's sizes
// allow, so that the mutations reach the index parser behind them.
#include <cstring>
#include <string>
#include <vector>

#include "data/pack.h"
#include "fuzz/fuzz_util.h"

using namespace gbad;

namespace {

void put_le(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint64_t get_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// The layout's trailer: data_end at +24, index bytes at +32, index checksum at +48, the
// trailer's own checksum at +56.
std::string with_checksums(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (size < 128) return s;
  uint8_t* d = reinterpret_cast<uint8_t*>(s.data());
  uint8_t* t = d + size - 64;
  const uint64_t data_end = get_le(t + 24), index_bytes = get_le(t + 32);
  if (data_end <= size - 64 && index_bytes == size - 64 - data_end)
    put_le(t + 48, pack_checksum(d + data_end, size_t(index_bytes)));
  put_le(t + 56, pack_checksum(t, 56));
  return s;
}

void check(const std::string& path) {
  std::shared_ptr<const Pack> p;
  fuzz::expect_clean([&] { p = Pack::open(path); });
  if (!p) return;
  if (p->count() < 0 || p->side() < 1) std::abort();
  for (int64_t i = 0; i < p->count(); ++i) {
    if (p->find(p->stem(i)) != i) std::abort();
    fuzz::expect_clean([&] {
      const uint8_t* px = p->pixels(i);
      volatile uint8_t sink = px[p->record_bytes() - 1];  // the whole record is mapped
      (void)sink;
    });
  }
  std::vector<Sample> samples(2);
  samples[0].stem = "P00001";
  samples[1].stem = "N00001";
  samples[0].labels = {1, -1, -1, -1, -1};
  samples[1].labels = {-1, -1, -1, -1, -1};
  fuzz::expect_clean([&] {
    const std::vector<int64_t> rec = p->match(samples, "the fuzz split");
    for (int64_t r : rec)
      if (r < 0 || r >= p->count()) std::abort();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  check(fuzz::write_file("input.pack", data, size));
  const std::string fixed = with_checksums(data, size);
  check(
      fuzz::write_file("fixed.pack", reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size()));
  return 0;
}
