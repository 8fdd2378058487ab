#include "eval/cam.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/check.h"
#include "io/io.h"

namespace gbad {

CamMap grad_cam(const float* a, const float* da, int64_t c, int h, int w) {
  GBAD_CHECK(c > 0 && h > 0 && w > 0, "grad_cam: empty feature map ", c, "x", h, "x", w);
  const int64_t hw = int64_t(h) * w;
  CamMap m{h, w, std::vector<float>(size_t(hw), 0.f)};
  std::vector<double> acc(size_t(hw), 0.0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double alpha = 0;
    for (int64_t i = 0; i < hw; ++i) alpha += da[ch * hw + i];
    alpha /= double(hw);
    for (int64_t i = 0; i < hw; ++i) acc[i] += alpha * a[ch * hw + i];
  }
  for (int64_t i = 0; i < hw; ++i) m.v[i] = static_cast<float>(std::max(0.0, acc[i]));
  return m;
}

CamMap classic_cam(const float* a, const float* weight_row, int64_t c, int h, int w) {
  GBAD_CHECK(c > 0 && h > 0 && w > 0, "classic_cam: empty feature map ", c, "x", h, "x", w);
  const int64_t hw = int64_t(h) * w;
  std::vector<double> acc(size_t(hw), 0.0);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < hw; ++i) acc[i] += double(weight_row[ch]) * a[ch * hw + i];
  CamMap m{h, w, std::vector<float>(size_t(hw))};
  for (int64_t i = 0; i < hw; ++i) m.v[i] = static_cast<float>(acc[i]);
  return m;
}

CamMap resize_cam(const CamMap& m, int H, int W) {
  GBAD_CHECK(m.h > 0 && m.w > 0 && H > 0 && W > 0, "resize_cam: bad sizes ", m.h, "x", m.w, " -> ",
             H, "x", W);
  CamMap out{H, W, std::vector<float>(size_t(H) * W)};
  const double sy = double(m.h) / H, sx = double(m.w) / W;
  for (int y = 0; y < H; ++y) {
    const double fy = std::max(0.0, (y + 0.5) * sy - 0.5);
    const int y0 = std::min(int(fy), m.h - 1), y1 = std::min(y0 + 1, m.h - 1);
    const double wy = fy - y0;
    for (int x = 0; x < W; ++x) {
      const double fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      const int x0 = std::min(int(fx), m.w - 1), x1 = std::min(x0 + 1, m.w - 1);
      const double wx = fx - x0;
      const double top = m.v[size_t(y0) * m.w + x0] * (1 - wx) + m.v[size_t(y0) * m.w + x1] * wx;
      const double bot = m.v[size_t(y1) * m.w + x0] * (1 - wx) + m.v[size_t(y1) * m.w + x1] * wx;
      out.v[size_t(y) * W + x] = static_cast<float>(top * (1 - wy) + bot * wy);
    }
  }
  return out;
}

void normalise_cam(CamMap& m) {
  if (m.v.empty()) return;
  auto [lo, hi] = std::minmax_element(m.v.begin(), m.v.end());
  const float a = *lo, range = *hi - *lo;
  for (float& v : m.v) v = range > 0 ? (v - a) / range : 0.f;
}

CamMap combine_cams(const std::vector<CamMap>& maps, int H, int W) {
  GBAD_CHECK(!maps.empty(), "combine_cams: no maps");
  CamMap out{H, W, std::vector<float>(size_t(H) * W, 0.f)};
  for (const CamMap& m : maps) {
    CamMap r = resize_cam(m, H, W);
    normalise_cam(r);
    for (size_t i = 0; i < out.v.size(); ++i) out.v[i] += r.v[i] / float(maps.size());
  }
  normalise_cam(out);
  return out;
}

void turbo_rgb(float t, uint8_t rgb[3]) {
  const double x = std::clamp(double(t), 0.0, 1.0);
  const double r =
      0.13572138 +
      x * (4.61539260 +
           x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const double g =
      0.09140261 +
      x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const double b =
      0.10667330 +
      x * (12.64194608 +
           x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const double c[3] = {r, g, b};
  for (int i = 0; i < 3; ++i)
    rgb[i] = static_cast<uint8_t>(std::lround(std::clamp(c[i], 0.0, 1.0) * 255.0));
}

std::vector<uint8_t> overlay_cam(const uint8_t* rgb, int width, int height, const CamMap& cam,
                                 float alpha) {
  GBAD_CHECK(cam.w == width && cam.h == height, "overlay_cam: map ", cam.w, "x", cam.h,
             " does not match the image ", width, "x", height);
  std::vector<uint8_t> out(size_t(width) * height * 3);
  for (size_t i = 0; i < size_t(width) * height; ++i) {
    const float t = std::clamp(cam.v[i], 0.f, 1.f);
    uint8_t c[3];
    turbo_rgb(t, c);
    const float k = alpha * t;
    for (int ch = 0; ch < 3; ++ch)
      out[i * 3 + ch] =
          static_cast<uint8_t>(std::lround((1 - k) * rgb[i * 3 + ch] + k * float(c[ch])));
  }
  return out;
}

namespace {
const char* kCamIndexHeader = "image,class,confidence,overlay";
}  // namespace

std::string cam_index_csv(const std::vector<CamIndexRow>& rows) {
  std::string out = std::string(kCamIndexHeader) + "\n";
  for (const CamIndexRow& r : rows) {
    for (const std::string* f : {&r.image, &r.cls, &r.confidence, &r.overlay})
      GBAD_CHECK(!f->empty() && f->find_first_of(",\"\r\n") == std::string::npos,
                 "CAM index: the field '", *f, "' is empty or holds a comma, quote or line break");
    out += r.image + "," + r.cls + "," + r.confidence + "," + r.overlay + "\n";
  }
  return out;
}

std::vector<CamIndexRow> read_cam_index(const std::string& dir) {
  const std::string index = dir + "/index.csv";
  std::stringstream ss(read_file(index));
  std::string line;
  std::vector<CamIndexRow> rows;
  int lineno = 0;
  while (std::getline(ss, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineno == 1) {
      GBAD_CHECK(line == kCamIndexHeader, index, ":1: expected the header '", kCamIndexHeader,
                 "', got '", line, "'");
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string c;
    while (std::getline(ls, c, ',')) f.push_back(c);
    GBAD_CHECK(f.size() == 4 && !f[3].empty(), index, ":", lineno,
               ": expected image,class,confidence,overlay, got '", line, "'");
    rows.push_back({f[0], f[1], f[2], f[3]});
  }
  GBAD_CHECK(lineno >= 1, index, ": empty file (expected the header '", kCamIndexHeader, "')");
  return rows;
}

}  // namespace gbad
