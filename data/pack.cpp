#include "data/pack.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/check.h"
#include "io/io.h"

namespace gbad {

namespace {

constexpr char kHeadMagic[8] = {'G', 'B', 'A', 'D', 'P', 'A', 'C', 'K'};
constexpr char kTailMagic[8] = {'G', 'B', 'A', 'D', 'P', 'K', 'I', 'X'};
constexpr size_t kHeadBytes = 64, kTailBytes = 64;
constexpr int kMaxSide = 4096;

void put_u16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(char(v >> (8 * i)));
}
void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(char(v >> (8 * i)));
}
void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(char(v >> (8 * i)));
}
uint64_t get_le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// Bounds-checked reads of the index; every failure names the pack.
struct Cursor {
  const uint8_t* p;
  size_t left;
  const std::string& path;
  uint64_t take(int bytes, const char* what) {
    GBAD_CHECK(left >= size_t(bytes), "pack ", path, ": corrupt index (", what,
               " runs past its end)");
    const uint64_t v = get_le(p, bytes);
    p += bytes;
    left -= size_t(bytes);
    return v;
  }
  std::string str(size_t n, const char* what) {
    GBAD_CHECK(left >= n, "pack ", path, ": corrupt index (", what, " runs past its end)");
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    left -= n;
    return s;
  }
};

std::string labels_text(const std::array<int8_t, kNumClasses>& l) {
  std::string s;
  for (int j = 0; j < kNumClasses; ++j) s += (j ? "," : "") + std::to_string(int(l[size_t(j)]));
  return s;
}

}  // namespace

uint64_t pack_checksum(const uint8_t* data, size_t bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < bytes; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h ^ bytes;
}

// ---- writing ----

struct PackWriter::Impl {
  Impl(const std::string& p) : file(p) {}
  AtomicFile file;
  int side = 0;
  std::string source;
  uint64_t source_checksum = 0;
  std::string index;  // the per-record part
  uint64_t count = 0;
  bool finished = false;
};

PackWriter::PackWriter(const std::string& path, int side, const std::string& source,
                       uint64_t source_checksum)
    : impl_(std::make_unique<Impl>(path)) {
  GBAD_CHECK(side > 0 && side <= kMaxSide, "pack ", path, ": side ", side, " out of range 1..",
             kMaxSide);
  impl_->side = side;
  impl_->source = source;
  impl_->source_checksum = source_checksum;
  std::string head(kHeadMagic, 8);
  put_u32(head, kPackVersion);
  head.resize(kHeadBytes, '\0');
  impl_->file.write(head);
}

PackWriter::~PackWriter() = default;

void PackWriter::add(const std::string& stem, const std::array<int8_t, kNumClasses>& labels,
                     const uint8_t* pixels) {
  Impl& m = *impl_;
  GBAD_CHECK(!m.finished, "pack ", m.file.path(), ": add() after finish()");
  GBAD_CHECK(!stem.empty() && stem.size() <= 0xFFFF, "pack ", m.file.path(), ": stem '", stem,
             "' is empty or too long");
  const size_t bytes = size_t(m.side) * m.side * 3;
  put_u16(m.index, uint16_t(stem.size()));
  m.index += stem;
  for (int8_t l : labels) m.index.push_back(char(l));
  put_u64(m.index, kHeadBytes + m.count * bytes);
  put_u64(m.index, pack_checksum(pixels, bytes));
  m.file.write(pixels, bytes);
  ++m.count;
}

void PackWriter::finish() {
  Impl& m = *impl_;
  GBAD_CHECK(!m.finished, "pack ", m.file.path(), ": finish() twice");
  std::string index;
  put_u32(index, uint32_t(std::strlen(kPackResize)));
  index += kPackResize;
  put_u32(index, uint32_t(m.source.size()));
  index += m.source;
  index += m.index;
  const uint64_t data_end = kHeadBytes + m.count * uint64_t(m.side) * m.side * 3;
  m.file.write(index);
  std::string tail(kTailMagic, 8);
  put_u32(tail, kPackVersion);
  put_u32(tail, uint32_t(m.side));
  put_u64(tail, m.count);
  put_u64(tail, data_end);
  put_u64(tail, index.size());
  put_u64(tail, m.source_checksum);
  put_u64(tail, pack_checksum(reinterpret_cast<const uint8_t*>(index.data()), index.size()));
  put_u64(tail, pack_checksum(reinterpret_cast<const uint8_t*>(tail.data()), tail.size()));
  m.file.write(tail);
  m.file.commit();
  m.finished = true;
}

std::vector<uint8_t> resize_to_uint8(const Image& img, int side) {
  std::vector<float> rs;
  resize_bilinear(rs, side, side, img.pixels.data(), img.width, img.height);
  std::vector<uint8_t> out(rs.size());
  for (size_t i = 0; i < rs.size(); ++i)
    out[i] = uint8_t(std::lround(std::min(255.f, std::max(0.f, rs[i]))));
  return out;
}

void write_pack(const std::string& path, const std::vector<Sample>& samples, int side,
                const std::string& source, int workers, bool progress) {
  GBAD_CHECK(workers > 0, "write_pack: workers must be positive, got ", workers);
  const std::string csv = read_file(source);
  PackWriter w(path, side, source,
               pack_checksum(reinterpret_cast<const uint8_t*>(csv.data()), csv.size()));
  const size_t n = samples.size(), chunk = 64 * size_t(workers);
  std::vector<std::vector<uint8_t>> px(chunk);
  std::vector<std::string> errors(chunk);
  for (size_t begin = 0; begin < n; begin += chunk) {
    const size_t end = std::min(n, begin + chunk);
    std::atomic<size_t> next{begin};
    auto work = [&] {
      for (size_t i; (i = next++) < end;) {
        try {
          px[i - begin] = resize_to_uint8(decode_image(samples[i].path), side);
        } catch (const Error& e) {
          errors[i - begin] = e.what();
        }
      }
    };
    std::vector<std::thread> threads;
    for (int t = 1; t < workers; ++t) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    for (size_t i = begin; i < end; ++i) {
      if (!errors[i - begin].empty()) GBAD_FAIL(errors[i - begin]);
      w.add(samples[i].stem, samples[i].labels, px[i - begin].data());
    }
    if (progress) {
      std::printf("\rpacked %zu/%zu images", end, n);
      std::fflush(stdout);
    }
  }
  if (progress) std::printf("\n");
  w.finish();
}

// ---- reading ----

std::shared_ptr<const Pack> Pack::open(const std::string& path) {
  std::shared_ptr<Pack> pk(new Pack());
  pk->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  GBAD_CHECK(fd >= 0, "cannot open pack ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    GBAD_FAIL("pack ", path, " is not a regular file");
  }
  const size_t size = size_t(st.st_size);
  if (size < kHeadBytes + kTailBytes) {
    ::close(fd);
    GBAD_FAIL("pack ", path, " is too short to be a gbad pack (", size, " bytes; truncated?)");
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  GBAD_CHECK(m != MAP_FAILED, "cannot map pack ", path, ": ", std::strerror(err));
  pk->map_ = static_cast<const uint8_t*>(m);
  pk->map_bytes_ = size;
  const uint8_t* d = pk->map_;

  GBAD_CHECK(std::memcmp(d, kHeadMagic, 8) == 0, "pack ", path,
             " is not a gbad pack (no GBADPACK header; write one with gbad-pack)");
  const uint64_t head_version = get_le(d + 8, 4);
  GBAD_CHECK(head_version == kPackVersion, "pack ", path, " has version ", head_version,
             "; this build reads version ", kPackVersion);
  const uint8_t* t = d + size - kTailBytes;
  GBAD_CHECK(std::memcmp(t, kTailMagic, 8) == 0, "pack ", path,
             " is truncated or corrupt (no index trailer in its last ", kTailBytes, " bytes)");
  GBAD_CHECK(get_le(t + 56, 8) == pack_checksum(t, 56), "pack ", path,
             " is corrupt (index trailer checksum mismatch)");
  GBAD_CHECK(get_le(t + 8, 4) == kPackVersion, "pack ", path, ": index version ", get_le(t + 8, 4),
             " differs from its header's");
  const uint64_t side = get_le(t + 12, 4), count = get_le(t + 16, 8);
  const uint64_t data_end = get_le(t + 24, 8), index_bytes = get_le(t + 32, 8);
  pk->source_checksum_ = get_le(t + 40, 8);
  const uint64_t index_checksum = get_le(t + 48, 8);
  GBAD_CHECK(side >= 1 && side <= uint64_t(kMaxSide), "pack ", path, ": image side ", side,
             " out of range 1..", kMaxSide);
  pk->side_ = int(side);
  const uint64_t rec = side * side * 3;
  // data_end == head + count * rec and data_end + index + tail == size, without overflow.
  GBAD_CHECK(data_end >= kHeadBytes && data_end <= size - kTailBytes &&
                 index_bytes == size - kTailBytes - data_end &&
                 (data_end - kHeadBytes) % rec == 0 && (data_end - kHeadBytes) / rec == count,
             "pack ", path, " is truncated or corrupt (", size, " bytes do not hold ", count,
             " images of ", side, "x", side, " and an index of ", index_bytes, " bytes)");
  const uint8_t* ix = d + data_end;
  GBAD_CHECK(pack_checksum(ix, size_t(index_bytes)) == index_checksum, "pack ", path,
             " is corrupt (index checksum mismatch)");
  Cursor c{ix, size_t(index_bytes), path};
  pk->resize_ = c.str(size_t(c.take(4, "resize settings")), "resize settings");
  GBAD_CHECK(pk->resize_ == kPackResize, "pack ", path, " was resized with '", pk->resize_,
             "'; this build resizes with '", kPackResize, "': write it again with gbad-pack");
  pk->source_ = c.str(size_t(c.take(4, "source")), "source");
  // At most one record per 24 index bytes (a 1-byte stem, labels, offset, checksum).
  pk->stems_.reserve(size_t(std::min<uint64_t>(count, index_bytes / 24)));
  for (uint64_t i = 0; i < count; ++i) {
    std::string stem = c.str(size_t(c.take(2, "stem")), "stem");
    std::array<int8_t, kNumClasses> l{};
    for (auto& v : l) {
      v = int8_t(c.take(1, "labels"));
      GBAD_CHECK(v == -1 || v == 0 || v == 1, "pack ", path, ": record ", i, " (", stem,
                 ") has label ", int(v), " (expected -1, 0 or 1)");
    }
    const uint64_t off = c.take(8, "offset"), sum = c.take(8, "checksum");
    GBAD_CHECK(off == kHeadBytes + i * rec, "pack ", path, ": record ", i, " (", stem,
               ") has offset ", off, ", expected ", kHeadBytes + i * rec);
    GBAD_CHECK(!stem.empty() && pk->by_stem_.emplace(stem, int64_t(i)).second, "pack ", path,
               ": record ", i, " has an empty or repeated stem '", stem, "'");
    pk->stems_.push_back(std::move(stem));
    pk->labels_.push_back(l);
    pk->offsets_.push_back(off);
    pk->checksums_.push_back(sum);
  }
  GBAD_CHECK(c.left == 0, "pack ", path, ": ", c.left, " bytes left over after its index");
  return pk;
}

Pack::~Pack() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

int64_t Pack::find(const std::string& stem) const {
  auto it = by_stem_.find(stem);
  return it == by_stem_.end() ? -1 : it->second;
}

const uint8_t* Pack::pixels(int64_t i) const {
  GBAD_CHECK(i >= 0 && i < count(), "pack ", path_, ": record ", i, " out of range 0..",
             count() - 1);
  const uint8_t* p = map_ + offsets_[size_t(i)];
  GBAD_CHECK(pack_checksum(p, record_bytes()) == checksums_[size_t(i)], "pack ", path_,
             " is corrupt: the pixels of record ", i, " (", stems_[size_t(i)],
             ") fail their checksum");
  return p;
}

std::vector<int64_t> Pack::match(const std::vector<Sample>& samples,
                                 const std::string& what) const {
  const std::string hint = " (pack made from " + source_ +
                           "; write it again with gbad-pack for this split, or drop --pack)";
  std::vector<int64_t> rec(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& s = samples[i];
    rec[i] = find(s.stem);
    GBAD_CHECK(rec[i] >= 0, "pack ", path_, " does not match ", what, ": image ", s.stem,
               " is not in the pack", hint);
    GBAD_CHECK(labels(rec[i]) == s.labels, "pack ", path_, " does not match ", what, ": labels of ",
               s.stem, " differ (pack ", labels_text(labels(rec[i])), ", split ",
               labels_text(s.labels), ")", hint);
  }
  GBAD_CHECK(int64_t(samples.size()) == count(), "pack ", path_, " does not match ", what,
             ": the pack holds ", count(), " images, the split ", samples.size(), hint);
  return rec;
}

}  // namespace gbad
