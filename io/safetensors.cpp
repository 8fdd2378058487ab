#include "io/safetensors.h"

#include <algorithm>
#include <cstring>

#include "io/io.h"
#include "io/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors I/O assumes a little-endian host"
#endif

namespace gbad {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

const char* tensor_dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
  }
  return "?";
}

// numel x elem, or false on overflow / negative dimension.
bool checked_nbytes(const Shape& shape, size_t elem, uint64_t* out) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (d < 0) return false;
    uint64_t ud = static_cast<uint64_t>(d);
    if (ud != 0 && n > UINT64_MAX / ud) return false;
    n *= ud;
  }
  *out = n;
  return true;
}

// The largest tensor a file may declare: the product of its non-zero dimensions times the
// element size may not exceed the file's size. A non-empty tensor must fit its data anyway;
// this also keeps an empty one (a zero dimension) from declaring [0, 2^62, 2^62], whose element
// count overflows wherever it is multiplied out in another order.
bool declared_size_within(const Shape& shape, size_t elem, uint64_t limit) {
  uint64_t n = elem;
  for (int64_t d : shape) {
    if (d < 0) return false;
    uint64_t ud = static_cast<uint64_t>(d);
    if (ud == 0) continue;
    if (n > limit / ud) return false;
    n *= ud;
  }
  return n <= limit;
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL") return 1;
  return 0;
}

// ---- writer ---------------------------------------------------------------------------------

void SafeTensorsWriter::add(const std::string& name, const Tensor& t) {
  GBAD_CHECK(t.defined(), "safetensors: tensor '", name, "' is undefined");
  std::string bytes(t.nbytes(), '\0');
  if (!bytes.empty()) copy_bytes(&bytes[0], Device::CPU, t.raw(), t.device(), bytes.size());
  add_raw(name, tensor_dtype_name(t.dtype()), t.shape(), std::move(bytes));
}

void SafeTensorsWriter::add_raw(const std::string& name, const std::string& dtype,
                                const Shape& shape, std::string bytes) {
  GBAD_CHECK(!name.empty() && name != "__metadata__", "safetensors: invalid tensor name '", name,
             "'");
  GBAD_CHECK(!tensors_.count(name), "safetensors: tensor '", name, "' added twice");
  size_t elem = safetensors_dtype_size(dtype);
  GBAD_CHECK(elem > 0, "safetensors: tensor '", name, "': unknown dtype '", dtype, "'");
  uint64_t nbytes = 0;
  GBAD_CHECK(checked_nbytes(shape, elem, &nbytes) && nbytes == bytes.size(),
             "safetensors: tensor '", name, "': ", bytes.size(), " bytes do not match dtype ",
             dtype, " x shape ", shape_str(shape));
  tensors_[name] = Item{dtype, shape, std::move(bytes)};
}

void SafeTensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string SafeTensorsWriter::header() const {
  Json j = Json::object();
  if (!metadata_.empty()) {
    Json& m = j["__metadata__"] = Json::object();
    for (const auto& kv : metadata_) m[kv.first] = kv.second;
  }
  uint64_t offset = 0;
  for (const auto& kv : tensors_) {
    const Item& it = kv.second;
    const uint64_t end = offset + it.bytes.size();
    j[kv.first] = {{"dtype", it.dtype}, {"shape", it.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = json_text(j);
  json.append((8 - json.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t n = json.size();
  std::string out(8, '\0');
  std::memcpy(&out[0], &n, 8);
  return out + json;
}

void SafeTensorsWriter::write(const std::string& path) const {
  std::string head = header();
  write_file_atomic(path, [&](AtomicFile& f) {
    f.write(head);
    for (const auto& kv : tensors_) f.write(kv.second.bytes);
  });
}

// ---- reader ---------------------------------------------------------------------------------

SafeTensorsFile SafeTensorsFile::open(const std::string& path) {
  return parse(read_file(path), path);
}

SafeTensorsFile SafeTensorsFile::parse(std::string bytes, const std::string& path) {
  SafeTensorsFile f;
  f.path_ = path;
  const std::string where = "safetensors file '" + path + "'";
  const uint64_t size = bytes.size();
  GBAD_CHECK(size >= 8, where, ": only ", size,
             " bytes, too short for the 8-byte header length (empty or truncated file?)");
  uint64_t n = load<uint64_t>(bytes.data());
  GBAD_CHECK(n <= size - 8, where, ": header length ", n, " bytes runs past the end of the file (",
             size, " bytes; truncated or not a safetensors file?)");
  GBAD_CHECK(n <= kMaxHeaderBytes, where, ": header length ", n, " bytes exceeds the ",
             kMaxHeaderBytes, "-byte limit");
  const Json root = parse_json(bytes.substr(8, n), where + " header");
  GBAD_CHECK(root.is_object(), where, ": header is not a JSON object");
  const uint64_t data_len = size - 8 - n;

  for (const auto& kv : root.items()) {
    const std::string& name = kv.key();
    const Json& v = kv.value();
    if (name == "__metadata__") {
      GBAD_CHECK(v.is_object(), where, ": __metadata__ is not an object");
      for (const auto& m : v.items()) {
        GBAD_CHECK(m.value().is_string(), where, ": __metadata__ value of '", m.key(),
                   "' is not a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tw = where + ": tensor '" + name + "'";
    GBAD_CHECK(v.is_object(), tw, ": entry is not an object");
    const Json* dt = json_find(v, "dtype");
    const Json* sh = json_find(v, "shape");
    const Json* off = json_find(v, "data_offsets");
    GBAD_CHECK(dt, tw, ": missing \"dtype\"");
    GBAD_CHECK(sh, tw, ": missing \"shape\"");
    GBAD_CHECK(off, tw, ": missing \"data_offsets\"");
    GBAD_CHECK(dt->is_string(), tw, ": \"dtype\" is not a string");
    SafeTensorInfo info;
    info.dtype = dt->get<std::string>();
    size_t elem = safetensors_dtype_size(info.dtype);
    GBAD_CHECK(elem > 0, tw, ": unknown dtype '", info.dtype, "'");
    GBAD_CHECK(sh->is_array(), tw, ": \"shape\" is not an array");
    for (const Json& d : *sh) {
      // nlohmann parses every non-negative integer literal as number_unsigned.
      GBAD_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX), tw,
                 ": \"shape\" holds something other than a non-negative integer");
      info.shape.push_back(d.get<int64_t>());
    }
    GBAD_CHECK(off->is_array() && off->size() == 2, tw,
               ": \"data_offsets\" is not a [begin, end] pair");
    for (const Json& o : *off)
      GBAD_CHECK(o.is_number_unsigned(), tw,
                 ": \"data_offsets\" holds something other than a non-negative integer");
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    GBAD_CHECK(info.begin <= info.end, tw, ": data_offsets [", info.begin, ", ", info.end,
               "] end before they begin");
    GBAD_CHECK(info.shape.size() <= 8, tw, ": ", info.shape.size(), " dimensions is too many");
    uint64_t nbytes = 0;
    GBAD_CHECK(
        checked_nbytes(info.shape, elem, &nbytes) && declared_size_within(info.shape, elem, size),
        tw, ": shape ", shape_str(info.shape), " of ", info.dtype,
        " is too large: it declares more bytes than the whole file has (", size, ")");
    GBAD_CHECK(info.end - info.begin == nbytes, tw, ": data_offsets [", info.begin, ", ", info.end,
               "] hold ", info.end - info.begin, " bytes but ", info.dtype, " x ",
               shape_str(info.shape), " needs ", nbytes);
    GBAD_CHECK(info.end <= data_len, tw, ": data_offsets [", info.begin, ", ", info.end,
               "] run past the end of the data (", data_len, " bytes; truncated file?)");
    f.infos_[name] = std::move(info);
  }

  // The tensors must tile the data region exactly: no overlap, no gap, nothing after.
  std::vector<std::pair<const std::string*, const SafeTensorInfo*>> order;
  for (const auto& kv : f.infos_) order.emplace_back(&kv.first, &kv.second);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->begin != b.second->begin ? a.second->begin < b.second->begin
                                              : a.second->end < b.second->end;
  });
  uint64_t pos = 0;
  const std::string* prev = nullptr;
  for (const auto& e : order) {
    const SafeTensorInfo& in = *e.second;
    GBAD_CHECK(in.begin >= pos, where, ": tensor '", *e.first, "' [", in.begin, ", ", in.end,
               ") overlaps tensor '", prev ? *prev : std::string(), "' (which ends at ", pos, ")");
    GBAD_CHECK(in.begin == pos, where, ": ", in.begin - pos, " unused bytes before tensor '",
               *e.first, "'");
    pos = in.end;
    prev = e.first;
  }
  GBAD_CHECK(pos == data_len, where, ": the data region has ", data_len,
             " bytes but the tensors end at ", pos, " (trailing garbage or a damaged header?)");

  f.data_start_ = 8 + n;
  f.bytes_ = std::move(bytes);
  return f;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : infos_) out.push_back(kv.first);
  return out;
}

const SafeTensorInfo& SafeTensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  GBAD_CHECK(it != infos_.end(), "safetensors file '", path_, "' has no tensor '", name, "'");
  return it->second;
}

std::string SafeTensorsFile::read_raw(const std::string& name) const {
  const SafeTensorInfo& in = info(name);
  return bytes_.substr(data_start_ + in.begin, in.end - in.begin);
}

std::vector<float> SafeTensorsFile::read_f32(const std::string& name) const {
  const SafeTensorInfo& in = info(name);
  const size_t n = static_cast<size_t>(in.numel());
  const char* p = bytes_.data() + data_start_ + in.begin;
  std::vector<float> out(n);
  const std::string& d = in.dtype;
  if (d == "F32") {
    if (n) std::memcpy(out.data(), p, n * 4);
  } else if (d == "F64") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<double>(p + 8 * i));
  } else if (d == "F16") {
    for (size_t i = 0; i < n; ++i) out[i] = half_to_float(load<uint16_t>(p + 2 * i));
  } else if (d == "BF16") {
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = static_cast<uint32_t>(load<uint16_t>(p + 2 * i)) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
  } else if (d == "I64") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int64_t>(p + 8 * i));
  } else if (d == "U64") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<uint64_t>(p + 8 * i));
  } else if (d == "I32") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int32_t>(p + 4 * i));
  } else if (d == "U32") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<uint32_t>(p + 4 * i));
  } else if (d == "I16") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int16_t>(p + 2 * i));
  } else if (d == "U16") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<uint16_t>(p + 2 * i));
  } else if (d == "I8") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(p[i]));
  } else if (d == "U8" || d == "BOOL") {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<uint8_t>(p[i]));
  } else {
    GBAD_FAIL("safetensors file '", path_, "': tensor '", name, "': cannot convert dtype ", d,
              " to float");
  }
  return out;
}

Tensor SafeTensorsFile::read_tensor(const std::string& name, Device device) const {
  const SafeTensorInfo& in = info(name);
  Shape shape = in.shape.empty() ? Shape{1} : in.shape;
  return Tensor::from_vector(read_f32(name), shape, device);
}

}  // namespace gbad
