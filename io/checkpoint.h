// Checkpoints: a ParamStore (parameters and buffers, one tensor per entry, by entry name and
// shape) plus optional extra tensors (optimiser state, RNG state, ...) in one safetensors file
// written atomically, with __metadata__ {"format": "gbad", "format_version": "1",
// "extra_tensors": "name1,name2", ...caller's keys}.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/param_store.h"
#include "io/safetensors.h"

namespace gbad {

constexpr const char* kCheckpointFormat = "gbad";
constexpr const char* kCheckpointFormatVersion = "1";

// Writes every entry of `ps` (which must be finalized; any device) and the `extra` tensors.
// Extra names may not collide with entry names or contain ','. The caller's metadata may not
// set the reserved keys "format", "format_version" or "extra_tensors". Extra tensors are F32, so
// 64-bit integers (RNG seed and offset, step counters) belong in the metadata as decimal strings.
void save_params(const std::string& path, ParamStore& ps,
                 const std::map<std::string, std::string>& metadata,
                 const std::vector<std::pair<std::string, Tensor>>& extra = {});

struct LoadOptions {
  // Every store entry must be in the file, and every tensor in the file must be a store entry,
  // a listed extra tensor of a gbad checkpoint, or ignored below.
  bool strict = true;
  // The file's __metadata__ must say format "gbad", version "1" (false for converted
  // torchvision weights).
  bool require_gbad_format = true;
  // Names starting with one of these (e.g. "fc.") or ending with one of these suffixes (e.g.
  // ".num_batches_tracked") are skipped on both sides: not loaded, not required, not unexpected.
  std::vector<std::string> ignore_prefixes;
  std::vector<std::string> ignore_suffixes;
};

// Loads the store's entries from a file. Shapes must match exactly (a scalar [] matches [1]);
// every problem (shape mismatches, missing entries in strict mode, unexpected tensors in strict
// mode) is collected and reported in one gbad::Error naming the file, e.g.
//   tensor 'layer1.0.conv1.weight': expected shape [64, 64, 3, 3], found [64, 32, 3, 3]
// Nothing is copied unless every check passes. Values are converted to float and copied into
// the store on whatever device it is on; entries that are absent (non-strict) keep their value.
void load_params(const SafeTensorsFile& f, ParamStore& ps, const LoadOptions& opts = {});
void load_params(const std::string& path, ParamStore& ps, const LoadOptions& opts = {});

// The file's __metadata__ (validates the whole file).
std::map<std::string, std::string> read_metadata(const std::string& path);
// Numbers stored in a file's __metadata__ (as decimal strings): throw gbad::Error naming the
// file and the key when the key is absent, the value is not a number in full, or it lies
// outside [lo, hi] (metadata_float: not finite).
int64_t metadata_int(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::string& path, int64_t lo, int64_t hi);
uint64_t metadata_u64(const std::map<std::string, std::string>& meta, const std::string& key,
                      const std::string& path);
float metadata_float(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::string& path);
// Names of the extra tensors a gbad checkpoint lists in its metadata.
std::vector<std::string> extra_tensor_names(const SafeTensorsFile& f);
// One extra tensor (or any tensor) as F32 on `device`; for many, open the file once with
// SafeTensorsFile::open and call read_tensor / read_f32 / read_raw on it.
Tensor read_extra_tensor(const std::string& path, const std::string& name,
                         Device device = Device::CPU);

}  // namespace gbad
