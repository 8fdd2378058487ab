// Packed splits: a split's images decoded once, resized to the training resolution (the same
// antialiased bilinear resize as the JPEG path, rounded to uint8), in one file that the loader
// memory-maps and reads with no decode (gbad-pack writes it; LoaderConfig::pack reads it).
//
// File layout (little-endian):
//   [0, 64)        head: "GBADPACK", u32 version, zero padding
//   [64, D)        the records' pixels, `side` x `side` x 3 bytes (RGB, HWC) each, in index order
//   [D, D+I)       the index: u32 length + the resize settings in words, u32 length + the source
//                  CSV's path, then per record: u16 stem length, the stem, 5 int8 labels,
//                  u64 offset of its pixels, u64 checksum of its pixels
//   last 64 bytes  the tail: "GBADPKIX", u32 version, u32 side, u64 count, u64 D, u64 I,
//                  u64 checksum of the source CSV's bytes, u64 checksum of the index, u64 of
//                  the tail's preceding 56 bytes
// The index sits after the pixels so the writer streams (one pass, no seek); a truncated file
// loses its tail and is refused. Every offset, length and checksum is checked on open; a
// record's pixels are checked against its checksum each time they are read.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/classes.h"
#include "data/image.h"
#include "data/sixray.h"

namespace gbad {

inline constexpr uint32_t kPackVersion = 1;
// The resize settings a pack records (and the reader requires): the writer's resize in words.
inline constexpr const char* kPackResize = "bilinear-antialiased, aspect ignored, rounded to uint8";

// 64-bit checksum (FNV-1a over 8-byte words, then the tail bytes): cheap enough to verify every
// record on every read (~0.1 ms per 256x256 image).
uint64_t pack_checksum(const uint8_t* data, size_t bytes);

// Writes a pack record by record (streams to a temporary file; the pack appears at `path` only
// when finish() succeeds).
class PackWriter {
 public:
  PackWriter(const std::string& path, int side, const std::string& source,
             uint64_t source_checksum);
  ~PackWriter();
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;
  // `pixels`: side * side * 3 bytes, RGB HWC.
  void add(const std::string& stem, const std::array<int8_t, kNumClasses>& labels,
           const uint8_t* pixels);
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An image resized as the JPEG path resizes it (resize_bilinear to side x side), rounded to
// uint8: side * side * 3 bytes.
std::vector<uint8_t> resize_to_uint8(const Image& img, int side);

// Decodes and resizes `samples` with `workers` threads and writes them as a pack (in sample
// order). `source` is the split CSV the samples came from (its path and checksum go in the
// index). Progress on stdout when `progress` is set.
void write_pack(const std::string& path, const std::vector<Sample>& samples, int side,
                const std::string& source, int workers, bool progress = false);

class Pack {
 public:
  // Maps `path` read-only and checks it; throws gbad::Error naming the file and what is wrong
  // (not a pack, truncated, corrupt index).
  static std::shared_ptr<const Pack> open(const std::string& path);
  ~Pack();
  Pack(const Pack&) = delete;
  Pack& operator=(const Pack&) = delete;

  const std::string& path() const { return path_; }
  int side() const { return side_; }
  int64_t count() const { return static_cast<int64_t>(stems_.size()); }
  size_t record_bytes() const { return size_t(side_) * side_ * 3; }
  const std::string& source() const { return source_; }
  uint64_t source_checksum() const { return source_checksum_; }
  const std::string& resize() const { return resize_; }
  const std::string& stem(int64_t i) const { return stems_.at(size_t(i)); }
  const std::array<int8_t, kNumClasses>& labels(int64_t i) const { return labels_.at(size_t(i)); }
  // The record's index, or -1.
  int64_t find(const std::string& stem) const;
  // Record i's side * side * 3 bytes (in the mapping), after checking its checksum.
  const uint8_t* pixels(int64_t i) const;

  // For each sample, its record; throws naming the pack and the split and what differs (record
  // count, a stem missing from the pack, different labels) when the pack does not hold exactly
  // these samples with these labels.
  std::vector<int64_t> match(const std::vector<Sample>& samples, const std::string& what) const;

 private:
  Pack() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t map_bytes_ = 0;
  int side_ = 0;
  std::string source_, resize_;
  uint64_t source_checksum_ = 0;
  std::vector<std::string> stems_;
  std::vector<std::array<int8_t, kNumClasses>> labels_;
  std::vector<uint64_t> offsets_, checksums_;
  std::unordered_map<std::string, int64_t> by_stem_;
};

}  // namespace gbad
