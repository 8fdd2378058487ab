// Converted torchvision weights (tools/convert_torchvision.py) loaded with --pretrained:
// Classifier::load_pretrained on a plain and an FPN model (foreign files: no gbad metadata,
// any dtype, fc.* of another class count).
#include <string>

#include "fuzz/fuzz_models.h"
#include "fuzz/fuzz_util.h"

using namespace gbad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Classifier plain(fuzz::kTinyPlainArch, fuzz::tiny_classifier_options());
  static Classifier fpn(fuzz::kTinyArch, fuzz::tiny_classifier_options());
  const std::string path = fuzz::write_file("pretrained.safetensors", data, size);
  for (Classifier* m : {&plain, &fpn})
    fuzz::expect_clean([&] {
      PretrainedReport r = m->load_pretrained(path);
      if (r.loaded < 0 || r.missing < 0 ||
          size_t(r.loaded + r.missing) != m->param_store().entries().size())
        std::abort();
    });
  return 0;
}
