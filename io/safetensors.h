// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian u64
// header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// padded with spaces so the data starts at a multiple of 8, then the raw little-endian data
// (offsets relative to the start of the data). The reader validates everything before any
// tensor is handed out and reports problems in words, naming the file and the tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace gbad {

// Element size in bytes of a safetensors dtype string ("F32", "I64", ...); 0 when unknown.
size_t safetensors_dtype_size(const std::string& dtype);

// Collects tensors (copied to host memory when added) and metadata, then writes one file
// atomically (see write_file_atomic). Tensors are laid out and listed in the header SORTED BY
// NAME, whatever the insertion order, so the same content always gives the same bytes.
class SafeTensorsWriter {
 public:
  // F32 / F16 / BF16 tensor on any device. Names must be unique and non-empty, and may not be
  // "__metadata__".
  void add(const std::string& name, const Tensor& t);
  // Raw little-endian bytes of the given dtype; bytes.size() must equal numel x dtype size.
  void add_raw(const std::string& name, const std::string& dtype, const Shape& shape,
               std::string bytes);
  void set_metadata(const std::string& key, const std::string& value);
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  // The 8-byte length followed by the space-padded JSON header; the data follows it.
  std::string header() const;
  void write(const std::string& path) const;

 private:
  struct Item {
    std::string dtype;
    Shape shape;
    std::string bytes;
  };
  std::map<std::string, Item> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct SafeTensorInfo {
  std::string dtype;            // F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL
  Shape shape;                  // [] for a scalar (numel 1)
  uint64_t begin = 0, end = 0;  // byte offsets into the data region
  int64_t numel() const { return shape_numel(shape); }
};

class SafeTensorsFile {
 public:
  // Reads and validates the whole file. Throws gbad::Error naming the file (and the tensor,
  // where one is at fault) for: a missing or unreadable file; a file shorter than 8 bytes; a
  // header length beyond the end of the file; a header that is not valid JSON or not an object;
  // a tensor entry without a valid dtype / shape / data_offsets; an unknown dtype; offsets
  // that disagree with dtype size x numel, run past the data, overlap or leave gaps; a
  // __metadata__ that is not an object of strings.
  // Limits: the header is at most 100 MiB; a tensor has at most 8 dimensions, and the product
  // of its non-zero dimensions times its element size is at most the file's size (so no
  // tensor, empty or not, declares more than the file holds).
  static SafeTensorsFile open(const std::string& path);
  // Same checks on bytes already in memory; `path` is only used in messages.
  static SafeTensorsFile parse(std::string bytes, const std::string& path);

  const std::string& path() const { return path_; }
  uint64_t file_bytes() const { return bytes_.size(); }
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return infos_.count(name) != 0; }
  const SafeTensorInfo& info(const std::string& name) const;  // throws when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Values converted to float from any of the dtypes above (integers rounded to nearest float).
  std::vector<float> read_f32(const std::string& name) const;
  // A new F32 tensor of the file's shape (a scalar [] becomes shape [1]) on `device`.
  Tensor read_tensor(const std::string& name, Device device = Device::CPU) const;
  // The stored bytes, unconverted.
  std::string read_raw(const std::string& name) const;

 private:
  std::string path_;
  std::string bytes_;  // the whole file
  uint64_t data_start_ = 0;
  std::map<std::string, SafeTensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace gbad
