// Host-side images: decode (stb_image, JPEG and PNG, always RGB), antialiased bilinear resize,
// random crop / horizontal flip and ImageNet normalisation into NCHW floats.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gbad {

inline constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

// 8-bit RGB, row-major HWC.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// Limits on images from outside, checked before anything is allocated for the pixels (the
// header's width and height are read first). SIXray scans are at most a few thousand pixels a
// side and a few MB; these leave wide room while bounding memory (~100 MB of RGB at most).
inline constexpr size_t kMaxImageFileBytes = size_t(64) << 20;  // 64 MiB
inline constexpr int kMaxImageSide = 16384;                     // width and height, pixels
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 25;    // width x height (33.5 M)

// Throws gbad::Error naming the file when it cannot be read, is larger than the limits above,
// is not a JPEG/PNG stb_image can decode, or is a JPEG without its end-of-image marker
// (truncated: stb_image would otherwise fill the missing part with grey and say nothing).
Image decode_image(const std::string& path);
Image decode_image_memory(const uint8_t* data, size_t bytes, const std::string& name);

// Encodes RGB as baseline JPEG (stb_image_write). Deterministic for the same input.
std::vector<uint8_t> encode_jpeg(const Image& img, int quality);
// Encodes RGB as PNG (stb_image_write, lossless). Deterministic for the same input.
std::vector<uint8_t> encode_png(const Image& img);

// Resizes float HWC RGB (values 0..255) to width x height ignoring the aspect ratio. Bilinear
// (triangle filter, pixel centres at +0.5) widened by the scale factor when shrinking, as
// PIL's BILINEAR does, so large downscales do not alias.
void resize_bilinear(std::vector<float>& dst, int dst_w, int dst_h, const uint8_t* src, int src_w,
                     int src_h);

// How one image becomes a network input of crop x crop pixels.
//   train: resize to resize x resize, random crop x crop window, random horizontal flip;
//   test:  resize straight to crop x crop.
struct Preprocess {
  int resize = 256;
  int crop = 224;
  bool train = false;
  bool flip = true;  // only in train mode
};

// The random choices of one sample, drawn from Philox(seed, epoch, index): the same for a
// sample whatever thread handles it.
struct Augment {
  int x0 = 0, y0 = 0;
  bool flip = false;
};
Augment draw_augment(const Preprocess& p, uint64_t seed, uint64_t epoch, uint64_t index);

// Writes 3 * crop * crop floats (CHW, (v / 255 - mean) / std) for one image.
void preprocess_image(float* out, const Image& img, const Preprocess& p, const Augment& a);
// The same from an image already resized to the side preprocess_image resizes to (train:
// resize, test: crop), as uint8 RGB HWC (a pack record): crop, flip and normalise, no resize.
void preprocess_resized(float* out, const uint8_t* px, int side, const Preprocess& p,
                        const Augment& a);

}  // namespace gbad
