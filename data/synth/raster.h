// The synthetic generator's drawing layer: a per-image random generator, 2-D shapes, parts made
// of one material, and the canvas that accumulates what a dual-energy X-ray sees along each ray.
// Internal to data/synth*; the public interface is data/synth.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/philox.h"

namespace gbad::synth {

constexpr float kPi = 3.14159265358979f;

// A fast xorshift64* generator seeded from Philox(seed, image id, stream): every image and every
// stream within it is independent of the others and of the thread that draws it.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t id, uint64_t stream) {
    U32x4 r = philox4x32(seed, id, stream);
    s_ = (uint64_t(r.v[0]) << 32 | r.v[1]) | 1;
  }
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  float uni() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  float uni(float a, float b) { return a + (b - a) * uni(); }
  int randint(int n) { return static_cast<int>(uni() * n) % std::max(n, 1); }
  bool chance(float p) { return uni() < p; }
  float normal() {  // Irwin-Hall approximation, plenty for noise and jitter
    float s = 0;
    for (int i = 0; i < 4; ++i) s += uni();
    return (s - 2.f) * 1.7320508f;
  }

 private:
  uint64_t s_;
};

struct V2 {
  float x, y;
};
using Contour = std::vector<V2>;

// Effective atomic numbers of the materials bags hold. The scanner cannot tell materials apart
// beyond this number and the mass along the ray, so this is all a part needs.
namespace z {
constexpr float kPaper = 6.6f, kFabric = 6.8f, kPlastic = 6.2f, kRubber = 6.4f, kWood = 6.8f;
constexpr float kWater = 7.4f, kFood = 7.6f, kCoated = 8.5f, kPvc = 12.0f, kFr4 = 11.0f,
                kGlass = 11.5f;
constexpr float kAluminium = 13.0f, kSilicon = 14.0f, kCeramic = 12.5f, kLithium = 10.5f;
constexpr float kSteel = 26.0f, kCopper = 29.0f, kBrass = 29.5f, kTungsten = 40.0f;
}  // namespace z

// How the mass along the ray varies over a part, in the part's own coordinates.
struct Profile {
  enum Kind : uint8_t { kFlat, kDome, kCylX, kCylY, kShellX, kShellY } kind = kFlat;
  float cx = 0, cy = 0, rx = 1, ry = 1;  // centre and half-sizes (dome) or radius (cylinders)
  float wall = 0.2f;                     // shells: wall thickness as a fraction of the radius
  float eval(float u, float v) const {
    switch (kind) {
      case kFlat:
        return 1.f;
      case kDome: {
        float a = (u - cx) / rx, b = (v - cy) / ry;
        return std::sqrt(std::max(0.f, 1.f - a * a - b * b));
      }
      case kCylX:
      case kCylY: {
        float d = kind == kCylX ? (v - cy) / ry : (u - cx) / rx;
        return std::sqrt(std::max(0.f, 1.f - d * d));
      }
      default: {  // hollow cylinder: chord through the wall only (bright rims, lighter middle)
        float d = kind == kShellX ? (v - cy) / ry : (u - cx) / rx, in = 1.f - wall;
        return (std::sqrt(std::max(0.f, 1.f - d * d)) - std::sqrt(std::max(0.f, in * in - d * d))) /
               std::sqrt(1.f - in * in);  // peak 1, at the inner edge
      }
    }
  }
};

// One material's region: areal density `mass` (g/cm^2) at the profile's peak, over the area
// inside `contours` (nonzero winding; holes run the other way; a negative mass cuts a hole).
struct Part {
  float z;
  float mass;
  std::vector<Contour> contours;
  Profile prof{};
};
using Object = std::vector<Part>;

Contour rect(float x0, float y0, float x1, float y1);
Contour ellipse(float cx, float cy, float rx, float ry, int n = 20, bool reverse = false);
Contour rounded_rect(float x0, float y0, float x1, float y1, float r, int seg = 4);
Contour reversed(Contour c);
// A polyline of width w turned into one closed contour (miter joints, limited).
Contour stroke(const std::vector<V2>& p, float w);
std::vector<V2> arc(float cx, float cy, float rx, float ry, float a0, float a1, int n);
// Ring = outer ellipse + reversed inner ellipse.
std::vector<Contour> ring(float cx, float cy, float rx, float ry, float w, int n = 20);
// A star-shaped blob with smoothly varying radius (clothes, soft bags).
Contour blob(Rng& r, float rx, float ry, float rough, int n = 18);
// A wandering polyline from `start` (cables, folds): n steps of length `step`, turning by up to
// `turn` radians per step.
std::vector<V2> wander(Rng& r, V2 start, float angle, int n, float step, float turn);
// Rotates a part's points around a pivot (opening pliers, scissors, folding knives).
void rotate_part(Part& p, V2 pivot, float a);
// Shorthands for parts with a cylinder or dome profile over a rectangle / ellipse.
Part cyl_x(float z, float mass, float x0, float y0, float x1, float y1, float round = 0);
Part cyl_y(float z, float mass, float x0, float y0, float x1, float y1, float round = 0);
Part shell_x(float z, float mass, float x0, float y0, float x1, float y1, float wall);
Part dome(float z, float mass, float cx, float cy, float rx, float ry, int n = 20);

// Similarity transform (with optional mirror) from object to image coordinates.
struct Xf {
  float c = 1, s = 0, scale = 1, tx = 0, ty = 0, mirror = 1;
  V2 operator()(V2 p) const {
    float x = p.x * scale, y = p.y * scale * mirror;
    return {c * x - s * y + tx, s * x + c * y + ty};
  }
  V2 inverse(V2 q) const {
    float x = q.x - tx, y = q.y - ty;
    return {(c * x + s * y) / scale, (-s * x + c * y) / (scale * mirror)};
  }
};
Xf make_xf(float angle, float scale, float tx, float ty, bool mirror = false);

// Two maps of what the rays cross, the two-basis decomposition of dual-energy imaging
// (Alvarez & Macovski 1976): attenuation = Compton part (proportional to mass) + photoelectric
// part (proportional to mass * Z^3). Any mixture along a ray is described by these two sums.
class Canvas {
 public:
  Canvas(int w, int h);
  int w() const { return w_; }
  int h() const { return h_; }
  const std::vector<float>& mass() const { return mass_; }    // g/cm^2
  const std::vector<float>& photo() const { return photo_; }  // g/cm^2 * (Z/10)^3
  void draw(const Object& obj, const Xf& xf);

 private:
  struct Cross {
    float x;
    int dir;
  };
  // Adds mass * coverage * profile to the maps inside the (image-space) contours: nonzero rule,
  // 4 sub-rows per row, exact horizontal coverage of each sub-row span.
  void fill(const Part& p, const std::vector<Contour>& cs, const Xf& xf);
  int w_, h_;
  std::vector<float> mass_, photo_, cov_;
  std::vector<Cross> xs_;
};

}  // namespace gbad::synth
