#include "data/synth/xray.h"

namespace gbad::synth {

namespace {

// exp(-a) for a >= 0 from a table with linear interpolation (error < 1e-4, far below 8 bits).
struct ExpTable {
  static constexpr int kN = 4096;
  static constexpr float kMax = 16.f;
  float v[kN + 2];
  ExpTable() {
    for (int i = 0; i <= kN + 1; ++i) v[i] = std::exp(-kMax * i / kN);
  }
};
const ExpTable kExpTable;

inline float exp_neg(float a) {
  if (!(a > 0)) return 1.f;
  float x = a * (ExpTable::kN / ExpTable::kMax);
  if (x >= ExpTable::kN) return 0.f;
  int i = static_cast<int>(x);
  float f = x - i;
  return kExpTable.v[i] + f * (kExpTable.v[i + 1] - kExpTable.v[i]);
}

// The scanner's palette: per-channel display attenuation of each hue, so that a pixel is
// exp(-D * kappa(hue)): thin material is a pale tint of its hue, thicker material a saturated,
// darker one, and very thick material of any kind goes to black.
// Hue stops: organic orange, organic/mixed yellow-olive, mixed green, mixed/metal teal, metal blue.
constexpr int kStops = 5;
constexpr float kHueAt[kStops] = {0.f, 0.3f, 0.5f, 0.75f, 1.f};
constexpr float kKappa[kStops][3] = {{0.25f, 0.60f, 1.10f},
                                     {0.85f, 0.50f, 1.05f},
                                     {0.90f, 0.43f, 1.00f},
                                     {1.90f, 0.90f, 0.80f},
                                     {2.50f, 1.00f, 0.80f}};
constexpr float kDisplayGain = 1.85f;
constexpr float kCompress = 0.4f;  // display attenuation D per unit high-energy attenuation
constexpr float kNoise = 0.012f;   // quantum noise of the attenuation where nothing attenuates
constexpr float kBelt = 0.04f;     // g/cm^2 of the conveyor belt under everything

// Hue (0 organic .. 1 metal) from the attenuation ratio, piecewise linear between the ratios of
// the effective atomic numbers where scanners change colour.
struct HueMap {
  float r[4];
  HueMap() {
    const float zs[4] = {7.2f, 9.0f, 14.f, 18.f};
    for (int i = 0; i < 4; ++i) r[i] = dual_energy_ratio(zs[i]);
  }
  float operator()(float ratio) const {
    if (ratio <= r[0]) return 0.f;
    if (ratio < r[1]) return 0.5f * (ratio - r[0]) / (r[1] - r[0]);
    if (ratio <= r[2]) return 0.5f;
    if (ratio < r[3]) return 0.5f + 0.5f * (ratio - r[2]) / (r[3] - r[2]);
    return 1.f;
  }
};
const HueMap kHue;

// Separable [1 2 1] / 4 blur of a map (the detector's point spread), into `out`.
void blur121(const std::vector<float>& in, std::vector<float>& tmp, std::vector<float>& out, int w,
             int h) {
  for (int y = 0; y < h; ++y) {
    const float* row = &in[size_t(y) * w];
    float* t = &tmp[size_t(y) * w];
    for (int x = 0; x < w; ++x)
      t[x] = 0.25f * (row[std::max(0, x - 1)] + 2 * row[x] + row[std::min(w - 1, x + 1)]);
  }
  for (int y = 0; y < h; ++y) {
    const float* up = &tmp[size_t(std::max(0, y - 1)) * w];
    const float* mid = &tmp[size_t(y) * w];
    const float* dn = &tmp[size_t(std::min(h - 1, y + 1)) * w];
    float* o = &out[size_t(y) * w];
    for (int x = 0; x < w; ++x) o[x] = 0.25f * (up[x] + 2 * mid[x] + dn[x]);
  }
}

}  // namespace

float dual_energy_ratio(float z) {
  const float p = (z / 10.f) * (z / 10.f) * (z / 10.f);
  return (DualEnergy::kComptonLo + DualEnergy::kPhotoLo * p) /
         (DualEnergy::kComptonHi + DualEnergy::kPhotoHi * p);
}

Image render_xray(const Canvas& cv, Rng& noise) {
  const int w = cv.w(), h = cv.h();
  const size_t np = size_t(w) * h;
  // Beer-Lambert: attenuation (-ln of transmission) at each energy.
  std::vector<float> lo(np), hi(np), tmp(np), blo(np), bhi(np);
  const std::vector<float>& m = cv.mass();
  const std::vector<float>& p = cv.photo();
  const float belt_lo = kBelt * dual_energy_ratio(6.5f) * 0.17f, belt_hi = kBelt * 0.17f;
  for (size_t i = 0; i < np; ++i) {
    lo[i] = DualEnergy::kComptonLo * m[i] + DualEnergy::kPhotoLo * p[i] + belt_lo;
    hi[i] = DualEnergy::kComptonHi * m[i] + DualEnergy::kPhotoHi * p[i] + belt_hi;
  }
  // Detector blur, then the scanner's edge enhancement (unsharp mask) on the blurred image.
  blur121(lo, tmp, blo, w, h);
  blur121(hi, tmp, bhi, w, h);
  blur121(blo, tmp, lo, w, h);
  blur121(bhi, tmp, hi, w, h);
  constexpr float kSharpen = 1.2f;
  for (size_t i = 0; i < np; ++i) {
    lo[i] = std::max(0.f, blo[i] + kSharpen * (blo[i] - lo[i]));
    hi[i] = std::max(0.f, bhi[i] + kSharpen * (bhi[i] - hi[i]));
  }
  // Line-scan artefacts: each detector element has its own gain (stripes along the belt), each
  // scan line its own source intensity.
  const bool belt_along_x = noise.chance(0.5f);
  const int nd = belt_along_x ? h : w, ns = belt_along_x ? w : h;
  std::vector<float> det(nd), line(ns);
  for (auto& g : det) g = 0.004f * noise.normal();
  for (auto& g : line) g = 0.003f * noise.normal();

  Image img;
  img.width = w;
  img.height = h;
  img.pixels.resize(np * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = size_t(y) * w + x;
      // Quantum noise: the fewer photons get through, the noisier the attenuation estimate.
      // Two 16-bit uniforms per draw, triangular: cheap and plenty for sensor noise.
      uint64_t bits = noise.next();
      float n1 = (float(bits >> 48) + float((bits >> 32) & 0xFFFF)) * (1.f / 65536.f) - 1.f;
      float n2 = (float((bits >> 16) & 0xFFFF) + float(bits & 0xFFFF)) * (1.f / 65536.f) - 1.f;
      const float g = belt_along_x ? det[y] + line[x] : det[x] + line[y];
      float ah = hi[i] + g + 2.45f * kNoise * n1 / std::max(0.05f, exp_neg(0.5f * hi[i]));
      float al = lo[i] + g + 2.45f * kNoise * n2 / std::max(0.05f, exp_neg(0.5f * lo[i]));
      ah = std::max(ah, 0.f);
      al = std::max(al, 0.f);
      // Effective atomic number from the ratio; where little attenuates the ratio is unreliable
      // and the colour stays pale anyway.
      const float ratio = (al + 0.02f) / (ah + 0.02f / 1.3f);
      const float u = kHue(ratio);
      int k = 0;
      while (k < kStops - 2 && u > kHueAt[k + 1]) ++k;
      const float t = (u - kHueAt[k]) / (kHueAt[k + 1] - kHueAt[k]);
      // The display compresses high attenuation (as scanner displays do, to show structure in
      // dense regions): D grows linearly for thin material and slower for thick.
      const float d = kDisplayGain * ah / (1.f + kCompress * ah);
      for (int ch = 0; ch < 3; ++ch) {
        const float kappa = kKappa[k][ch] + t * (kKappa[k + 1][ch] - kKappa[k][ch]);
        const float v = 255.f * exp_neg(d * kappa);
        img.pixels[i * 3 + ch] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f));
      }
    }
  return img;
}

}  // namespace gbad::synth
