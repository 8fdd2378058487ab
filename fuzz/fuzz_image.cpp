// The image decoder wrapper (JPEG and PNG through stb_image, with the limits of data/image.h),
// then the loader's preprocessing (resize, crop, flip, normalise) of whatever it decoded.
#include <cmath>
#include <vector>

#include "data/image.h"
#include "fuzz/fuzz_util.h"

using namespace gbad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_clean([&] {
    Image img = decode_image_memory(data, size, "fuzz-input");
    if (img.width <= 0 || img.height <= 0 || img.width > kMaxImageSide ||
        img.height > kMaxImageSide || int64_t(img.width) * img.height > kMaxImagePixels ||
        img.pixels.size() != size_t(img.width) * img.height * 3)
      std::abort();
    // Large images are valid but slow to resize under ASan; the decode is what is fuzzed.
    if (int64_t(img.width) * img.height > (int64_t(1) << 20)) return;
    std::vector<float> out(3 * 24 * 24);
    Preprocess train{32, 24, true, true}, test{32, 24, false, false};
    preprocess_image(out.data(), img, train, draw_augment(train, 1, 0, size));
    for (float v : out)
      if (!std::isfinite(v)) std::abort();
    preprocess_image(out.data(), img, test, Augment{});
    for (float v : out)
      if (!std::isfinite(v)) std::abort();
  });
  return 0;
}
