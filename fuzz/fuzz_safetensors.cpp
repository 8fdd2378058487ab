// The safetensors reader: header, metadata, every tensor read back in each way the program
// reads tensors (as floats, raw, as a Tensor).
#include <string>

#include "fuzz/fuzz_util.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"

using namespace gbad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_clean([&] {
    SafeTensorsFile f =
        SafeTensorsFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)extra_tensor_names(f);
    for (const std::string& name : f.names()) {
      const SafeTensorInfo& in = f.info(name);
      if (in.end < in.begin || in.end - in.begin > size) std::abort();
      const std::string raw = f.read_raw(name);
      if (raw.size() != in.end - in.begin) std::abort();
      if (f.read_f32(name).size() != size_t(in.numel())) std::abort();
      fuzz::expect_clean([&] { (void)f.read_tensor(name); });  // > 4 dimensions: an Error
    }
  });
  return 0;
}
