#include "data/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/check.h"
#include "core/philox.h"

namespace gbad {

namespace {

// Where the JPEG's SOI marker ends, or 0 when it is not a JPEG. stb_image accepts any number of
// FF fill bytes before the D8 (found by fuzz_image: FF FF D8 went past both checks below).
size_t jpeg_soi_end(const uint8_t* d, size_t n) {
  size_t i = 0;
  while (i < n && d[i] == 0xFF) ++i;
  return i >= 1 && i < n && d[i] == 0xD8 ? i + 1 : 0;
}

// A complete JPEG ends with the EOI marker FF D9 (possibly followed by a little padding).
// Inside entropy-coded data FF is always followed by 00 or a restart marker, so FF D9 near the
// end means the scan data is complete.
bool jpeg_has_eoi(const uint8_t* d, size_t n) {
  size_t from = n > 4096 ? n - 4096 : 0;
  for (size_t i = n; i-- > from + 1;)
    if (d[i - 1] == 0xFF && d[i] == 0xD9) return true;
  return false;
}

// Walks the JPEG's marker segments (and skips the entropy-coded data after each SOS) and
// returns what is wrong in words, or "" when nothing is. It rejects what stb_image 2.27 (the
// Debian 12 version) decodes out of bounds: a Huffman table (DHT) declaring more than 256
// codes makes stbi__build_huffman write past its 257-entry size table (found by fuzz_image;
// stb 2.28 added the same check), and a scan using a Huffman table no DHT defined reads
// stb's uninitialised table (fuzz_image). Everything else is left to stb_image.
std::string jpeg_structure_problem(const uint8_t* d, size_t n) {
  size_t i = jpeg_soi_end(d, n);
  // Huffman tables defined so far ([class: 0 DC, 1 AC][id]); a scan that uses another one
  // makes stb_image decode with its uninitialised table (an out-of-bounds read: fuzz_image).
  bool defined[2][4] = {};
  bool progressive = false;
  while (i < n) {
    if (d[i] != 0xFF) {  // padding between segments: stb_image scans past it too
      ++i;
      continue;
    }
    while (i < n && d[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) break;
    const uint8_t m = d[i++];
    if (m == 0xD9) return "";                             // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // TEM, RSTn: no length
    if (i + 2 > n) return "segment length runs past the end";
    const size_t len = size_t(d[i]) << 8 | d[i + 1];
    if (len < 2 || i + len > n) return "segment length runs past the end";
    if (m == 0xC4) {  // DHT: tables of [class/id, 16 counts, values]
      size_t p = i + 2;
      const size_t end = i + len;
      while (p < end) {
        if (p + 17 > end) return "Huffman table header runs past its segment";
        size_t codes = 0;
        for (int k = 1; k <= 16; ++k) codes += d[p + size_t(k)];
        if (codes > 256)
          return "Huffman table declares " + std::to_string(codes) + " codes (at most 256)";
        const int tc = d[p] >> 4, th = d[p] & 15;
        if (tc <= 1 && th <= 3) defined[tc][th] = true;
        p += 17 + codes;
      }
      if (p != end) return "Huffman table runs past its segment";
    }
    if (m == 0xC2) progressive = true;
    if (m == 0xDA && len >= 3) {  // SOS: [ns, ns x (component, DC/AC table ids), Ss, Se, AhAl]
      const size_t ns = d[i + 2];
      if (len >= 6 + 2 * ns) {
        const int ss = d[i + 3 + 2 * ns], ah = d[i + 5 + 2 * ns] >> 4;
        // Baseline scans use both tables; progressive DC first scans the DC table, AC scans
        // the AC table, DC refinements none.
        const bool dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
        for (size_t k = 0; k < ns; ++k) {
          const int td = d[i + 4 + 2 * k] >> 4, ta = d[i + 4 + 2 * k] & 15;
          if ((dc && td <= 3 && !defined[0][td]) || (ac && ta <= 3 && !defined[1][ta]))
            return "a scan uses a Huffman table that no DHT segment defined";
        }
      }
    }
    i += len;
    if (m == 0xDA) {
      // SOS: entropy-coded data up to the next marker. As stb_image reads it: FF, any number of
      // FF fill bytes, then 00 is a stuffed data byte and RSTn a restart; anything else is the
      // next marker (so "FF FF 00" is data, not a marker: a DHT hidden behind it was missed).
      for (;;) {
        while (i < n && d[i] != 0xFF) ++i;
        size_t j = i + 1;
        while (j < n && d[j] == 0xFF) ++j;
        if (j >= n) return "";  // ends inside the scan data: stb_image's business
        if (d[j] != 0x00 && !(d[j] >= 0xD0 && d[j] <= 0xD7)) break;  // a marker: i is its FF
        i = j + 1;
      }
    }
  }
  return "";
}

uint32_t be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// Checks a PNG's chunks and bounds its decompressed data before stb_image sees it; returns what
// is wrong in words, or "". stb_image 2.27 sizes its IDAT buffer from each chunk's declared
// length before reading it (a 40-byte PNG asked for 2 GiB: fuzz_image), and inflates the image
// data into a buffer that grows without limit (a zlib bomb within our file limit could ask for
// ~64 GiB). So every chunk must fit in the file, and the image data must inflate to at most
// what the header's size needs plus 1/8 (stb tolerates trailing data; real files have little).
std::string png_structure_problem(const uint8_t* d, size_t n) {
  static const uint8_t kSig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  if (n < 8 || std::memcmp(d, kSig, 8) != 0) return "";  // not a PNG
  size_t i = 8;
  uint32_t w = 0, h = 0;
  int depth = 0, color = -1, interlace = 0;
  std::vector<uint8_t> idat;
  while (i + 12 <= n) {
    const uint32_t len = be32(d + i), type = be32(d + i + 4);
    if (len > n - i - 12)
      return "chunk of " + std::to_string(len) + " bytes runs past the end of the file";
    const uint8_t* p = d + i + 8;
    if (type == 0x43674249u) return "";  // CgBI (Apple's variant): no zlib header; stb's business
    if (type == 0x49484452u && len >= 13) {  // IHDR
      w = be32(p);
      h = be32(p + 4);
      depth = p[8];
      color = p[9];
      interlace = p[12];
    }
    if (type == 0x49444154u) idat.insert(idat.end(), p, p + len);  // IDAT
    if (type == 0x49454E44u) break;                                // IEND
    i += 12 + size_t(len);
  }
  const int channels = color == 0   ? 1
                       : color == 2 ? 3
                       : color == 3 ? 1
                       : color == 4 ? 2
                       : color == 6 ? 4
                                    : 0;
  if (!channels || w == 0 || h == 0 || w > uint32_t(kMaxImageSide) || h > uint32_t(kMaxImageSide) ||
      (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16) || idat.empty())
    return "";  // stb_image reports these
  // Bytes of filtered scanlines: one filter byte per row of each (Adam7) pass.
  auto pass_bytes = [&](uint64_t pw, uint64_t ph) {
    return pw == 0 || ph == 0 ? 0 : ph * (1 + (pw * uint64_t(channels) * uint64_t(depth) + 7) / 8);
  };
  uint64_t need = 0;
  if (interlace) {
    static const int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                     {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
    for (const auto& a : kAdam7)
      need += pass_bytes((w - uint64_t(a[0]) + uint64_t(a[2]) - 1) / uint64_t(a[2]),
                         (h - uint64_t(a[1]) + uint64_t(a[3]) - 1) / uint64_t(a[3]));
  } else {
    need = pass_bytes(w, h);
  }
  const uint64_t limit = need + need / 8 + 1024;
  if (limit > uint64_t(INT32_MAX))
    return "image data of " + std::to_string(need) + " bytes is too large";
  std::vector<char> out(static_cast<size_t>(limit));
  if (stbi_zlib_decode_buffer(out.data(), static_cast<int>(limit),
                              reinterpret_cast<const char*>(idat.data()),
                              static_cast<int>(idat.size())) < 0)
    return "image data does not inflate to at most " + std::to_string(limit) +
           " bytes (corrupt, or much more than its " + std::to_string(w) + "x" + std::to_string(h) +
           " pixels need)";
  return "";
}

}  // namespace

Image decode_image_memory(const uint8_t* data, size_t bytes, const std::string& name) {
  GBAD_CHECK(bytes > 0, "image ", name, " is empty (0 bytes)");
  GBAD_CHECK(bytes <= kMaxImageFileBytes, "image ", name, " is too large (", bytes,
             " bytes; the limit is ", kMaxImageFileBytes, ")");
  const bool jpeg = jpeg_soi_end(data, bytes) > 0;
  if (jpeg && !jpeg_has_eoi(data, bytes))
    GBAD_FAIL("image ", name, " is truncated (JPEG without end-of-image marker, ", bytes,
              " bytes)");
  if (jpeg) {
    const std::string why = jpeg_structure_problem(data, bytes);
    if (!why.empty()) GBAD_FAIL("cannot decode image ", name, ": corrupt JPEG: ", why);
  }
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(bytes), &w, &h, &c)) {
    const char* why = stbi_failure_reason();
    GBAD_FAIL("cannot decode image ", name, ": ", why ? why : "unknown reason");
  }
  GBAD_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide &&
                 int64_t(w) * h <= kMaxImagePixels,
             "image ", name, " is ", w, "x", h, " pixels; the limits are ", kMaxImageSide,
             " a side and ", kMaxImagePixels, " in all");
  {
    const std::string why = png_structure_problem(data, bytes);
    if (!why.empty()) GBAD_FAIL("cannot decode image ", name, ": corrupt PNG: ", why);
  }
  const int info_w = w, info_h = h;
  uint8_t* px = stbi_load_from_memory(data, static_cast<int>(bytes), &w, &h, &c, 3);
  if (!px) {
    const char* why = stbi_failure_reason();
    GBAD_FAIL("cannot decode image ", name, ": ", why ? why : "unknown reason");
  }
  if (w != info_w || h != info_h) {  // cannot happen with stb; keep the limit watertight
    stbi_image_free(px);
    GBAD_FAIL("cannot decode image ", name, ": header and decoder disagree on its size");
  }
  Image img;
  img.width = w;
  img.height = h;
  img.pixels.assign(px, px + size_t(w) * h * 3);
  stbi_image_free(px);
  return img;
}

Image decode_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  GBAD_CHECK(in, "cannot open image ", path);
  std::streamsize n = in.tellg();
  GBAD_CHECK(n >= 0, "cannot read image ", path);
  GBAD_CHECK(static_cast<uint64_t>(n) <= kMaxImageFileBytes, "image ", path, " is too large (", n,
             " bytes; the limit is ", kMaxImageFileBytes, ")");
  std::vector<uint8_t> buf(static_cast<size_t>(n));
  in.seekg(0);
  GBAD_CHECK(n == 0 || in.read(reinterpret_cast<char*>(buf.data()), n), "cannot read image ", path);
  return decode_image_memory(buf.data(), buf.size(), path);
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  GBAD_CHECK(
      img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * 3,
      "encode_jpeg: bad image ", img.width, "x", img.height);
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    const uint8_t* p = static_cast<const uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  int ok = stbi_write_jpg_to_func(sink, &out, img.width, img.height, 3, img.pixels.data(), quality);
  GBAD_CHECK(ok, "JPEG encoding failed");
  return out;
}

std::vector<uint8_t> encode_png(const Image& img) {
  GBAD_CHECK(
      img.width > 0 && img.height > 0 && img.pixels.size() == size_t(img.width) * img.height * 3,
      "encode_png: bad image ", img.width, "x", img.height);
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    const uint8_t* p = static_cast<const uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  int ok = stbi_write_png_to_func(sink, &out, img.width, img.height, 3, img.pixels.data(),
                                  img.width * 3);
  GBAD_CHECK(ok, "PNG encoding failed");
  return out;
}

namespace {

// Separable filter taps for one axis: for each output index, first input index and weights.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> w;  // count[i] weights per output, stored at i * max_taps
  int max_taps = 0;
};

Taps make_taps(int in, int out) {
  Taps t;
  double scale = double(in) / out;
  double support = std::max(scale, 1.0);  // triangle radius in input pixels
  t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 2;
  t.first.resize(out);
  t.count.resize(out);
  t.w.assign(size_t(out) * t.max_taps, 0.f);
  for (int i = 0; i < out; ++i) {
    double center = (i + 0.5) * scale;
    int lo = std::max(0, static_cast<int>(std::floor(center - support)));
    int hi = std::min(in - 1, static_cast<int>(std::ceil(center + support)));
    double sum = 0;
    int n = 0;
    float* w = &t.w[size_t(i) * t.max_taps];
    for (int j = lo; j <= hi && n < t.max_taps; ++j, ++n) {
      double d = std::fabs((j + 0.5 - center) / support);
      w[n] = static_cast<float>(std::max(0.0, 1.0 - d));
      sum += w[n];
    }
    if (sum <= 0) {  // cannot happen for sane sizes; keep the nearest pixel
      n = 1;
      lo = std::min(in - 1, std::max(0, static_cast<int>(center)));
      w[0] = 1.f;
      sum = 1;
    }
    for (int k = 0; k < n; ++k) w[k] = static_cast<float>(w[k] / sum);
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}

}  // namespace

void resize_bilinear(std::vector<float>& dst, int dst_w, int dst_h, const uint8_t* src, int src_w,
                     int src_h) {
  GBAD_CHECK(dst_w > 0 && dst_h > 0 && src_w > 0 && src_h > 0, "resize_bilinear: bad sizes ", src_w,
             "x", src_h, " -> ", dst_w, "x", dst_h);
  Taps tx = make_taps(src_w, dst_w), ty = make_taps(src_h, dst_h);
  // Horizontal pass: src_h rows of dst_w pixels.
  std::vector<float> tmp(size_t(src_h) * dst_w * 3);
  for (int y = 0; y < src_h; ++y) {
    const uint8_t* row = src + size_t(y) * src_w * 3;
    float* o = &tmp[size_t(y) * dst_w * 3];
    for (int x = 0; x < dst_w; ++x) {
      const float* w = &tx.w[size_t(x) * tx.max_taps];
      const uint8_t* p = row + size_t(tx.first[x]) * 3;
      float r = 0, g = 0, b = 0;
      for (int k = 0; k < tx.count[x]; ++k, p += 3) {
        r += w[k] * p[0];
        g += w[k] * p[1];
        b += w[k] * p[2];
      }
      o[3 * x] = r;
      o[3 * x + 1] = g;
      o[3 * x + 2] = b;
    }
  }
  // Vertical pass.
  dst.assign(size_t(dst_w) * dst_h * 3, 0.f);
  const size_t stride = size_t(dst_w) * 3;
  for (int y = 0; y < dst_h; ++y) {
    float* o = &dst[size_t(y) * stride];
    const float* w = &ty.w[size_t(y) * ty.max_taps];
    for (int k = 0; k < ty.count[y]; ++k) {
      const float* r = &tmp[size_t(ty.first[y] + k) * stride];
      const float wk = w[k];
      for (size_t i = 0; i < stride; ++i) o[i] += wk * r[i];
    }
  }
}

Augment draw_augment(const Preprocess& p, uint64_t seed, uint64_t epoch, uint64_t index) {
  Augment a;
  if (!p.train) return a;
  const int range = std::max(0, p.resize - p.crop) + 1;
  // Stream (seed, epoch), elements 3*index .. 3*index+2.
  a.x0 = std::min(range - 1, static_cast<int>(rng_uniform(seed, epoch, 3 * index) * range));
  a.y0 = std::min(range - 1, static_cast<int>(rng_uniform(seed, epoch, 3 * index + 1) * range));
  a.flip = p.flip && rng_uniform(seed, epoch, 3 * index + 2) < 0.5f;
  return a;
}

namespace {

// Crop (at a.x0, a.y0), flip and normalise a side x side HWC image into CHW floats.
template <typename T>
void crop_normalise(float* out, const T* rs, int side, const Preprocess& p, const Augment& a) {
  const int c = p.crop;
  const size_t plane = size_t(c) * c;
  float scale[3], shift[3];
  for (int ch = 0; ch < 3; ++ch) {
    scale[ch] = 1.f / (255.f * kImageNetStd[ch]);
    shift[ch] = -kImageNetMean[ch] / kImageNetStd[ch];
  }
  for (int y = 0; y < c; ++y) {
    const T* row = &rs[(size_t(y + a.y0) * side + a.x0) * 3];
    for (int x = 0; x < c; ++x) {
      const T* px = row + 3 * (a.flip ? c - 1 - x : x);
      for (int ch = 0; ch < 3; ++ch)
        out[ch * plane + size_t(y) * c + x] = float(px[ch]) * scale[ch] + shift[ch];
    }
  }
}

int preprocess_side(const Preprocess& p) {
  GBAD_CHECK(p.crop > 0 && (!p.train || p.resize >= p.crop), "preprocess: crop ", p.crop,
             " must be positive and not larger than resize ", p.resize);
  return p.train ? p.resize : p.crop;
}

}  // namespace

void preprocess_image(float* out, const Image& img, const Preprocess& p, const Augment& a) {
  const int side = preprocess_side(p);
  std::vector<float> rs;
  resize_bilinear(rs, side, side, img.pixels.data(), img.width, img.height);
  crop_normalise(out, rs.data(), side, p, a);
}

void preprocess_resized(float* out, const uint8_t* px, int side, const Preprocess& p,
                        const Augment& a) {
  GBAD_CHECK(side == preprocess_side(p), "preprocess: image of side ", side, ", expected ",
             preprocess_side(p));
  crop_normalise(out, px, side, p, a);
}

}  // namespace gbad
