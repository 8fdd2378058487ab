#include "io/checkpoint.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace gbad {

namespace {

constexpr const char* kExtraKey = "extra_tensors";
constexpr size_t kListFirst = 5;  // names shown per problem kind

bool ignored(const std::string& name, const LoadOptions& o) {
  for (const auto& p : o.ignore_prefixes)
    if (name.compare(0, p.size(), p) == 0) return true;
  for (const auto& s : o.ignore_suffixes)
    if (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0)
      return true;
  return false;
}

bool same_shape(const Shape& want, const Shape& got) {
  if (want == got) return true;
  // torch stores scalars (num_batches_tracked) as []; we register them as [1].
  auto is_scalar = [](const Shape& s) { return s.empty() || (s.size() == 1 && s[0] == 1); };
  return is_scalar(want) && is_scalar(got);
}

std::string list_names(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < kListFirst; ++i) out += (i ? ", '" : "'") + v[i] + "'";
  if (v.size() > kListFirst) out += ", ... (" + std::to_string(v.size() - kListFirst) + " more)";
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(s);
  while (std::getline(is, cur, ','))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

void save_params(const std::string& path, ParamStore& ps,
                 const std::map<std::string, std::string>& metadata,
                 const std::vector<std::pair<std::string, Tensor>>& extra) {
  GBAD_CHECK(ps.finalized(), "save_params('", path, "'): the ParamStore is not finalized");
  SafeTensorsWriter w;
  for (const auto& kv : metadata) {
    GBAD_CHECK(kv.first != "format" && kv.first != "format_version" && kv.first != kExtraKey,
               "save_params('", path, "'): metadata key '", kv.first, "' is reserved");
    w.set_metadata(kv.first, kv.second);
  }
  w.set_metadata("format", kCheckpointFormat);
  w.set_metadata("format_version", kCheckpointFormatVersion);
  const auto& entries = ps.entries();
  for (size_t i = 0; i < entries.size(); ++i)
    w.add(entries[i].name, ps.value(static_cast<ParamStore::Ref>(i)));
  std::string extra_names;
  for (const auto& kv : extra) {
    GBAD_CHECK(kv.first.find(',') == std::string::npos, "save_params('", path,
               "'): extra tensor name '", kv.first, "' contains ','");
    GBAD_CHECK(ps.find(kv.first) < 0, "save_params('", path, "'): extra tensor '", kv.first,
               "' has the name of a store entry");
    w.add(kv.first, kv.second);
    extra_names += (extra_names.empty() ? "" : ",") + kv.first;
  }
  w.set_metadata(kExtraKey, extra_names);
  w.write(path);
}

namespace {

const std::string& metadata_value(const std::map<std::string, std::string>& meta,
                                  const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  GBAD_CHECK(it != meta.end(), path, ": metadata has no '", key, "'");
  return it->second;
}

}  // namespace

int64_t metadata_int(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::string& path, int64_t lo, int64_t hi) {
  const std::string& v = metadata_value(meta, key, path);
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  GBAD_CHECK(!v.empty() && errno == 0 && end == v.c_str() + v.size() && x >= lo && x <= hi, path,
             ": metadata '", key, "' is '", v, "', expected an integer in [", lo, ", ", hi, "]");
  return x;
}

uint64_t metadata_u64(const std::map<std::string, std::string>& meta, const std::string& key,
                      const std::string& path) {
  const std::string& v = metadata_value(meta, key, path);
  errno = 0;
  char* end = nullptr;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  GBAD_CHECK(!v.empty() && v[0] >= '0' && v[0] <= '9' && errno == 0 && end == v.c_str() + v.size(),
             path, ": metadata '", key, "' is '", v, "', expected an unsigned 64-bit integer");
  return x;
}

float metadata_float(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::string& path) {
  const std::string& v = metadata_value(meta, key, path);
  char* end = nullptr;
  const float x = std::strtof(v.c_str(), &end);
  GBAD_CHECK(!v.empty() && end == v.c_str() + v.size() && std::isfinite(x), path, ": metadata '",
             key, "' is '", v, "', expected a finite number");
  return x;
}

std::vector<std::string> extra_tensor_names(const SafeTensorsFile& f) {
  auto it = f.metadata().find(kExtraKey);
  return it == f.metadata().end() ? std::vector<std::string>{} : split_commas(it->second);
}

void load_params(const SafeTensorsFile& f, ParamStore& ps, const LoadOptions& opts) {
  const std::string where = "checkpoint '" + f.path() + "'";
  GBAD_CHECK(ps.finalized(), "load_params(", where, "): the ParamStore is not finalized");
  if (opts.require_gbad_format) {
    auto fmt = f.metadata().find("format");
    GBAD_CHECK(fmt != f.metadata().end() && fmt->second == kCheckpointFormat, where,
               " is not a gbad checkpoint (its __metadata__ has no \"format\": \"gbad\"; "
               "converted foreign weights need require_gbad_format = false)");
    auto ver = f.metadata().find("format_version");
    std::string v = ver == f.metadata().end() ? std::string("(none)") : ver->second;
    GBAD_CHECK(v == kCheckpointFormatVersion, where, " has format_version ", v,
               "; this build reads version ", kCheckpointFormatVersion);
  }

  std::vector<std::string> mismatched, missing, unexpected;
  std::vector<std::pair<ParamStore::Ref, std::string>> to_load;
  const auto& entries = ps.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (ignored(e.name, opts)) continue;
    if (!f.has(e.name)) {
      missing.push_back(e.name);
      continue;
    }
    const Shape& got = f.info(e.name).shape;
    if (!same_shape(e.shape, got)) {
      mismatched.push_back("tensor '" + e.name + "': expected shape " + shape_str(e.shape) +
                           ", found " + shape_str(got));
      continue;
    }
    to_load.emplace_back(static_cast<ParamStore::Ref>(i), e.name);
  }
  if (opts.strict) {
    std::vector<std::string> extras = extra_tensor_names(f);
    std::set<std::string> extra_set(extras.begin(), extras.end());
    for (const auto& name : f.names())
      if (ps.find(name) < 0 && !ignored(name, opts) && !extra_set.count(name))
        unexpected.push_back(name);
  }

  std::string problems;
  for (const auto& m : mismatched) problems += "\n  " + m;
  if (opts.strict && !missing.empty())
    problems += "\n  " + std::to_string(missing.size()) +
                " entries missing from the file: " + list_names(missing);
  if (!unexpected.empty())
    problems += "\n  " + std::to_string(unexpected.size()) +
                " unexpected tensors in the file: " + list_names(unexpected);
  if (!problems.empty())
    GBAD_FAIL("cannot load ", where, " into the model (nothing was loaded):", problems);

  for (const auto& r : to_load) {
    Tensor& dst = ps.value(r.first);
    std::vector<float> v = f.read_f32(r.second);
    if (!v.empty()) dst.set_from(v);
  }
}

void load_params(const std::string& path, ParamStore& ps, const LoadOptions& opts) {
  load_params(SafeTensorsFile::open(path), ps, opts);
}

std::map<std::string, std::string> read_metadata(const std::string& path) {
  return SafeTensorsFile::open(path).metadata();
}

Tensor read_extra_tensor(const std::string& path, const std::string& name, Device device) {
  return SafeTensorsFile::open(path).read_tensor(name, device);
}

}  // namespace gbad
