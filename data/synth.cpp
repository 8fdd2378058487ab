#include "data/synth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/philox.h"
#include "core/check.h"

namespace fs = std::filesystem;

namespace gbad {

namespace {

constexpr float kPi = 3.14159265358979f;

// ---- randomness: a fast xorshift generator seeded from Philox(seed, image id, stream) ----------
class Rng {
 public:
  Rng(uint64_t seed, uint64_t id, uint64_t stream) {
    U32x4 r = philox4x32(seed, id, stream);
    s_ = (uint64_t(r.v[0]) << 32 | r.v[1]) | 1;
  }
  uint64_t next() {  // xorshift64*
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  float uni() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }
  float uni(float a, float b) { return a + (b - a) * uni(); }
  int randint(int n) { return static_cast<int>(uni() * n) % std::max(n, 1); }
  bool chance(float p) { return uni() < p; }
  float normal() {  // Irwin-Hall approximation, plenty for noise
    float s = 0;
    for (int i = 0; i < 4; ++i) s += uni();
    return (s - 2.f) * 1.7320508f;
  }

 private:
  uint64_t s_;
};

// ---- geometry -----------------------------------------------------------------------------------
struct V2 {
  float x, y;
};
using Contour = std::vector<V2>;

enum Mat { kOrganic = 0, kInorganic = 1, kMetal = 2 };

struct Part {
  int mat;
  float thick;
  std::vector<Contour> contours;  // nonzero winding; holes run the other way
};
using Object = std::vector<Part>;

Contour rect(float x0, float y0, float x1, float y1) {
  return {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
}

Contour ellipse(float cx, float cy, float rx, float ry, int n = 20, bool reverse = false) {
  Contour c(n);
  for (int i = 0; i < n; ++i) {
    float a = 2 * kPi * (reverse ? n - i : i) / n;
    c[i] = {cx + rx * std::cos(a), cy + ry * std::sin(a)};
  }
  return c;
}

Contour rounded_rect(float x0, float y0, float x1, float y1, float r, int seg = 4) {
  r = std::min({r, (x1 - x0) / 2, (y1 - y0) / 2});
  Contour c;
  const V2 centers[4] = {{x1 - r, y0 + r}, {x1 - r, y1 - r}, {x0 + r, y1 - r}, {x0 + r, y0 + r}};
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i <= seg; ++i) {
      float a = -kPi / 2 + kPi / 2 * (k + float(i) / seg);
      c.push_back({centers[k].x + r * std::cos(a), centers[k].y + r * std::sin(a)});
    }
  return c;
}

// A polyline of width w turned into one closed contour (miter joints, limited).
Contour stroke(const std::vector<V2>& p, float w) {
  const size_t n = p.size();
  Contour left, right;
  for (size_t i = 0; i < n; ++i) {
    V2 d0 =
        i > 0 ? V2{p[i].x - p[i - 1].x, p[i].y - p[i - 1].y} : V2{p[1].x - p[0].x, p[1].y - p[0].y};
    V2 d1 = i + 1 < n ? V2{p[i + 1].x - p[i].x, p[i + 1].y - p[i].y} : d0;
    float l0 = std::hypot(d0.x, d0.y) + 1e-9f, l1 = std::hypot(d1.x, d1.y) + 1e-9f;
    V2 nrm{-(d0.y / l0 + d1.y / l1), d0.x / l0 + d1.x / l1};
    float ln = std::hypot(nrm.x, nrm.y) + 1e-9f;
    nrm = {nrm.x / ln, nrm.y / ln};
    float cosh = (nrm.x * -d0.y / l0 + nrm.y * d0.x / l0);
    float m = 0.5f * w / std::max(0.5f, cosh);
    left.push_back({p[i].x + nrm.x * m, p[i].y + nrm.y * m});
    right.push_back({p[i].x - nrm.x * m, p[i].y - nrm.y * m});
  }
  Contour c = left;
  for (size_t i = n; i-- > 0;) c.push_back(right[i]);
  return c;
}

std::vector<V2> arc(float cx, float cy, float rx, float ry, float a0, float a1, int n) {
  std::vector<V2> p(n + 1);
  for (int i = 0; i <= n; ++i) {
    float a = a0 + (a1 - a0) * i / n;
    p[i] = {cx + rx * std::cos(a), cy + ry * std::sin(a)};
  }
  return p;
}

// Ring = outer ellipse + reversed inner ellipse.
std::vector<Contour> ring(float cx, float cy, float rx, float ry, float w, int n = 20) {
  return {ellipse(cx, cy, rx, ry, n), ellipse(cx, cy, rx - w, ry - w, n, true)};
}

// A star-shaped blob with smoothly varying radius (clothes, bags of things).
Contour blob(Rng& r, float rx, float ry, float rough, int n = 18) {
  float ph[3] = {r.uni(0, 6.3f), r.uni(0, 6.3f), r.uni(0, 6.3f)};
  float am[3] = {r.uni(0, rough), r.uni(0, rough * 0.6f), r.uni(0, rough * 0.4f)};
  Contour c(n);
  for (int i = 0; i < n; ++i) {
    float a = 2 * kPi * i / n;
    float k = 1 + am[0] * std::sin(2 * a + ph[0]) + am[1] * std::sin(3 * a + ph[1]) +
              am[2] * std::sin(5 * a + ph[2]);
    c[i] = {rx * k * std::cos(a), ry * k * std::sin(a)};
  }
  return c;
}

// Similarity transform (with optional mirror) from object to image coordinates.
struct Xf {
  float c = 1, s = 0, scale = 1, tx = 0, ty = 0, mirror = 1;
  V2 operator()(V2 p) const {
    float x = p.x * scale, y = p.y * scale * mirror;
    return {c * x - s * y + tx, s * x + c * y + ty};
  }
};
Xf make_xf(float angle, float scale, float tx, float ty, bool mirror) {
  Xf t;
  t.c = std::cos(angle);
  t.s = std::sin(angle);
  t.scale = scale;
  t.tx = tx;
  t.ty = ty;
  t.mirror = mirror ? -1.f : 1.f;
  return t;
}

// Rotates points of a part around a pivot (opening pliers and scissors).
void rotate_part(Part& p, V2 pivot, float a) {
  float c = std::cos(a), s = std::sin(a);
  for (auto& ct : p.contours)
    for (auto& v : ct) {
      float x = v.x - pivot.x, y = v.y - pivot.y;
      v = {pivot.x + c * x - s * y, pivot.y + s * x + c * y};
    }
}

// ---- the canvas: one thickness map per material, filled by an antialiased scanline rasteriser --
class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), cov_(w + 2) {
    for (auto& t : t_) t.assign(size_t(w) * h, 0.f);
  }
  int w() const { return w_; }
  int h() const { return h_; }
  std::vector<float>& map(int m) { return t_[m]; }

  void draw(const Object& obj, const Xf& xf) {
    for (const Part& p : obj) {
      std::vector<Contour> cs = p.contours;
      for (auto& c : cs)
        for (auto& v : c) v = xf(v);
      fill(p.mat, p.thick, cs);
    }
  }

  // Adds thick * coverage to material m inside the contours (nonzero rule, 4 sub-rows per row,
  // exact horizontal coverage of each sub-row span).
  void fill(int m, float thick, const std::vector<Contour>& cs) {
    float ymin = 1e30f, ymax = -1e30f;
    for (const auto& c : cs)
      for (const auto& v : c) ymin = std::min(ymin, v.y), ymax = std::max(ymax, v.y);
    int y0 = std::max(0, static_cast<int>(std::floor(ymin)));
    int y1 = std::min(h_ - 1, static_cast<int>(std::ceil(ymax)));
    constexpr int kSub = 4;
    for (int y = y0; y <= y1; ++y) {
      int xl = w_, xr = -1;
      for (int sub = 0; sub < kSub; ++sub) {
        float sy = y + (sub + 0.5f) / kSub;
        xs_.clear();
        for (const auto& c : cs) {
          const size_t n = c.size();
          for (size_t i = 0; i < n; ++i) {
            const V2& a = c[i];
            const V2& b = c[(i + 1) % n];
            if ((a.y <= sy) == (b.y <= sy)) continue;
            float x = a.x + (sy - a.y) / (b.y - a.y) * (b.x - a.x);
            xs_.push_back({x, b.y > a.y ? 1 : -1});
          }
        }
        if (xs_.size() < 2) continue;
        std::sort(xs_.begin(), xs_.end(), [](const Cross& a, const Cross& b) { return a.x < b.x; });
        int wind = 0;
        for (size_t i = 0; i + 1 < xs_.size(); ++i) {
          wind += xs_[i].dir;
          if (wind == 0) continue;
          float xa = std::max(0.f, xs_[i].x), xb = std::min(float(w_), xs_[i + 1].x);
          if (xb <= xa) continue;
          int ia = static_cast<int>(xa), ib = static_cast<int>(xb);
          xl = std::min(xl, ia);
          xr = std::max(xr, ib);
          constexpr float q = 1.f / kSub;
          if (ia == ib) {
            cov_[ia] += (xb - xa) * q;
          } else {
            cov_[ia] += (ia + 1 - xa) * q;
            for (int x = ia + 1; x < ib; ++x) cov_[x] += q;
            cov_[ib] += (xb - ib) * q;
          }
        }
      }
      if (xr < 0) continue;
      float* row = &t_[m][size_t(y) * w_];
      xr = std::min(xr, w_ - 1);
      for (int x = xl; x <= xr; ++x) {
        row[x] += thick * std::min(1.f, cov_[x]);
        cov_[x] = 0;
      }
      cov_[xr + 1] = 0;
    }
  }

 private:
  struct Cross {
    float x;
    int dir;
  };
  int w_, h_;
  std::vector<float> t_[3];
  std::vector<float> cov_;
  std::vector<Cross> xs_;
};

// ---- threats (object coordinates: about 1 unit long, centred) ----------------------------------
Object make_gun(Rng& r) {
  Object o;
  if (r.chance(0.7f)) {  // semi-automatic pistol
    float sl = r.uni(0.85f, 1.0f), sh = r.uni(0.13f, 0.18f);
    float x0 = -0.5f, x1 = x0 + sl;
    o.push_back({kMetal, r.uni(2.0f, 2.8f), {rect(x0, -sh, x1, 0)}});
    o.push_back({kMetal, 1.8f, {rect(x0 - 0.04f, -sh * 0.7f, x0, -sh * 0.3f)}});
    float g = r.uni(0.05f, 0.14f), gw = r.uni(0.24f, 0.3f), gl = r.uni(0.45f, 0.6f);
    float gx = x1 - gw - 0.04f;
    int frame = r.chance(0.5f) ? kInorganic : kMetal;
    o.push_back({frame,
                 frame == kMetal ? 1.6f : 2.6f,
                 {{{gx, 0}, {gx + gw, 0}, {gx + gw + g, gl}, {gx + g, gl + 0.03f}}}});
    o.push_back({kMetal,
                 1.4f,
                 {{{gx + 0.05f, 0.03f},
                   {gx + gw - 0.05f, 0.03f},
                   {gx + gw - 0.05f + g, gl - 0.04f},
                   {gx + 0.05f + g, gl - 0.03f}}}});
    o.push_back({kMetal,
                 1.4f,
                 {stroke({{gx + 0.01f, 0.01f},
                          {gx - 0.02f, 0.16f},
                          {gx - 0.18f, 0.19f},
                          {gx - 0.24f, 0.13f},
                          {gx - 0.24f, 0.0f}},
                         0.035f)}});
    o.push_back({kMetal,
                 1.6f,
                 {stroke({{gx - 0.1f, 0.0f}, {gx - 0.08f, 0.08f}, {gx - 0.12f, 0.13f}}, 0.03f)}});
  } else {  // revolver
    float bl = r.uni(0.45f, 0.6f);
    o.push_back({kMetal, 2.2f, {rect(-0.5f, -0.12f, -0.5f + bl, -0.04f)}});
    float cx = -0.5f + bl + 0.1f;
    o.push_back({kMetal, 3.2f, {ellipse(cx, -0.07f, 0.12f, 0.09f, 16)}});
    o.push_back({kMetal, 1.8f, {rect(cx - 0.12f, -0.17f, cx + 0.2f, 0.02f)}});
    int grip = r.chance(0.6f) ? kOrganic : kInorganic;
    o.push_back(
        {grip,
         2.5f,
         {{{cx + 0.08f, 0}, {cx + 0.24f, -0.02f}, {cx + 0.36f, 0.42f}, {cx + 0.18f, 0.48f}}}});
    o.push_back({kMetal,
                 0.8f,
                 {{{cx + 0.1f, 0}, {cx + 0.22f, -0.01f}, {cx + 0.3f, 0.38f}, {cx + 0.2f, 0.42f}}}});
    o.push_back(
        {kMetal,
         1.4f,
         {stroke(
             {{cx + 0.06f, 0.01f}, {cx + 0.02f, 0.14f}, {cx - 0.12f, 0.16f}, {cx - 0.14f, 0.02f}},
             0.03f)}});
  }
  return o;
}

Object make_knife(Rng& r) {
  Object o;
  float hl = r.uni(0.28f, 0.4f), hw = r.uni(0.04f, 0.06f), bw = r.uni(0.06f, 0.15f);
  float xg = -0.5f + hl;
  bool metal_handle = r.chance(0.35f);
  o.push_back({metal_handle ? kMetal : kOrganic,
               metal_handle ? 1.3f : r.uni(1.8f, 2.8f),
               {rounded_rect(-0.5f, -hw, xg, hw, hw * 0.8f)}});
  if (!metal_handle) {  // rivets / tang
    o.push_back({kMetal, 0.7f, {rect(-0.46f, -hw * 0.35f, xg, hw * 0.35f)}});
  }
  if (r.chance(0.5f))
    o.push_back({kMetal, 1.6f, {rect(xg - 0.02f, -bw * 0.75f, xg + 0.02f, bw * 0.75f)}});
  float bt = r.uni(0.9f, 1.7f);
  if (r.chance(0.25f)) {  // dagger: symmetric
    o.push_back(
        {kMetal,
         bt,
         {{{xg, -bw / 2}, {0.3f, -bw * 0.35f}, {0.5f, 0}, {0.3f, bw * 0.35f}, {xg, bw / 2}}}});
  } else {
    float drop = r.uni(0.1f, 0.6f);
    o.push_back({kMetal,
                 bt,
                 {{{xg, -bw / 2},
                   {0.3f, -bw / 2},
                   {0.5f, -bw / 2 + bw * drop},
                   {0.4f, bw * 0.35f},
                   {0.22f, bw * 0.5f},
                   {xg, bw * 0.5f}}}});
  }
  return o;
}

Object make_wrench(Rng& r) {
  Object o;
  float sw = r.uni(0.045f, 0.07f), t = r.uni(1.8f, 2.6f);
  if (r.chance(0.7f)) {  // combination wrench
    o.push_back(
        {kMetal,
         t,
         {{{-0.38f, -sw * 0.6f}, {0.36f, -sw * 0.45f}, {0.36f, sw * 0.45f}, {-0.38f, sw * 0.6f}}}});
    float R = r.uni(0.09f, 0.12f), s = R * 0.45f, cx = 0.42f;
    float a0 = std::asin(s / R) + 0.05f;
    Contour head;
    for (auto& v : arc(cx, 0, R, R, a0, 2 * kPi - a0, 14)) head.push_back(v);
    head.push_back({cx - 0.25f * R, -s});
    head.push_back({cx - 0.25f * R, s});
    Part hp{kMetal, t, {head}};
    rotate_part(hp, {cx, 0}, r.uni(0.15f, 0.35f));
    o.push_back(hp);
    float R2 = r.uni(0.075f, 0.1f);
    o.push_back({kMetal, t, ring(-0.44f, 0, R2, R2, R2 * 0.4f, 12)});
  } else {  // adjustable wrench
    o.push_back({kMetal, t, {rounded_rect(-0.5f, -sw * 0.7f, 0.25f, sw * 0.7f, sw * 0.6f)}});
    o.push_back({kMetal, -t, {ellipse(-0.44f, 0, 0.025f, 0.025f, 10)}});  // hanging hole
    float cx = 0.33f;
    Contour head;
    for (auto& v : arc(cx, 0, 0.16f, 0.13f, 0.6f, 2 * kPi - 0.9f, 14)) head.push_back(v);
    head.push_back({cx + 0.02f, -0.04f});
    head.push_back({cx + 0.02f, 0.05f});
    o.push_back({kMetal, t, {head}});
    o.push_back({kMetal, t * 0.8f, {rect(cx + 0.02f, -0.13f, cx + 0.16f, -0.05f)}});
    o.push_back({kMetal, 1.5f, {ellipse(cx - 0.04f, 0.08f, 0.05f, 0.03f, 10)}});
  }
  // (the negative thickness above removes metal where the hanging hole is)
  return o;
}

Object make_pliers(Rng& r) {
  Object o;
  float open = r.uni(0.05f, 0.35f), t = r.uni(1.8f, 2.5f), hw = r.uni(0.045f, 0.06f);
  bool grips = r.chance(0.75f);
  int grip_mat = r.chance(0.6f) ? kOrganic : kInorganic;
  for (int sgn = -1; sgn <= 1; sgn += 2) {
    float s = float(sgn);
    Part handle{
        kMetal,
        t,
        {stroke({{-0.55f, s * 0.1f}, {-0.35f, s * 0.085f}, {-0.15f, s * 0.05f}, {0.0f, 0.0f}},
                hw)}};
    Part jaw{kMetal,
             t,
             {{{-0.04f, s * 0.04f},
               {0.16f, -s * 0.01f},
               {0.32f, -s * 0.004f},
               {0.32f, -s * 0.016f},
               {0.1f, -s * 0.05f},
               {-0.04f, -s * 0.03f}}}};
    Part grip{grip_mat,
              2.2f,
              {stroke({{-0.56f, s * 0.1f}, {-0.35f, s * 0.087f}, {-0.2f, s * 0.062f}}, hw * 1.8f)}};
    rotate_part(handle, {0, 0}, s * open / 2);
    rotate_part(jaw, {0, 0}, s * open / 2);
    rotate_part(grip, {0, 0}, s * open / 2);
    o.push_back(handle);
    o.push_back(jaw);
    if (grips) o.push_back(grip);
  }
  o.push_back({kMetal, 2.0f, {ellipse(0, 0, 0.05f, 0.05f, 12)}});
  return o;
}

Object make_scissors(Rng& r) {
  Object o;
  float open = r.uni(0.08f, 0.6f), bl = r.uni(0.4f, 0.55f), t = r.uni(1.1f, 1.7f);
  int loop_mat = r.chance(0.6f) ? kOrganic : (r.chance(0.5f) ? kInorganic : kMetal);
  float loop_t = loop_mat == kMetal ? 1.5f : 2.6f;
  for (int sgn = -1; sgn <= 1; sgn += 2) {
    float s = float(sgn);
    Part blade{kMetal,
               t,
               {{{-0.05f, -s * 0.035f},
                 {0.2f, -s * 0.03f},
                 {bl, s * 0.004f},
                 {0.18f, s * 0.022f},
                 {-0.05f, s * 0.03f}}}};
    Part shank{
        kMetal, t, {stroke({{-0.02f, 0}, {-0.14f, s * 0.05f}, {-0.22f, s * 0.08f}}, 0.035f)}};
    float lx = r.uni(0.09f, 0.12f), ly = r.uni(0.06f, 0.08f);
    Part loop{loop_mat, loop_t, ring(-0.3f, s * 0.1f, lx, ly, 0.03f, 16)};
    for (Part* p : {&blade, &shank, &loop}) rotate_part(*p, {0, 0}, -s * open / 2);
    o.push_back(blade);
    o.push_back(shank);
    o.push_back(loop);
  }
  o.push_back({kMetal, 1.5f, {ellipse(0, 0, 0.025f, 0.025f, 10)}});
  return o;
}

// ---- benign objects
// ------------------------------------------------------------------------------ Look-alikes:
// benign metal things with the outline features of a threat class.
Object make_lookalike(Rng& r) {
  Object o;
  switch (r.randint(7)) {
    case 0:  // screwdriver (knife-like)
      o.push_back({kOrganic, 2.2f, {rounded_rect(-0.5f, -0.06f, -0.1f, 0.06f, 0.05f)}});
      o.push_back({kMetal, 1.6f, {rect(-0.1f, -0.018f, 0.45f, 0.018f)}});
      o.push_back(
          {kMetal, 1.6f, {{{0.45f, -0.018f}, {0.5f, -0.006f}, {0.5f, 0.006f}, {0.45f, 0.018f}}}});
      break;
    case 1:  // spoon / fork
      o.push_back({kMetal, 1.0f, {stroke({{-0.5f, 0}, {0.1f, 0.01f}}, 0.04f)}});
      o.push_back({kMetal, 1.0f, {ellipse(0.28f, 0.01f, 0.2f, 0.08f, 16)}});
      break;
    case 2: {  // glasses (scissors-loop-like)
      float t = r.uni(0.9f, 1.5f);
      auto a = ring(-0.2f, 0, 0.17f, 0.12f, 0.025f, 18),
           b = ring(0.2f, 0, 0.17f, 0.12f, 0.025f, 18);
      o.push_back({kMetal, t, a});
      o.push_back({kMetal, t, b});
      o.push_back({kMetal,
                   t,
                   {stroke({{-0.37f, -0.05f}, {-0.55f, -0.1f}}, 0.02f),
                    stroke({{0.37f, -0.05f}, {0.55f, -0.1f}}, 0.02f)}});
      o.push_back(
          {kInorganic, 1.2f, {ellipse(-0.2f, 0, 0.15f, 0.1f), ellipse(0.2f, 0, 0.15f, 0.1f)}});
      break;
    }
    case 3: {  // tongs / tweezers (pliers-like)
      float open = r.uni(0.05f, 0.25f);
      for (int sgn = -1; sgn <= 1; sgn += 2) {
        Part arm{kMetal, 1.4f, {stroke({{-0.5f, 0}, {0.5f, sgn * 0.02f}}, 0.05f)}};
        rotate_part(arm, {-0.5f, 0}, sgn * open / 2);
        o.push_back(arm);
      }
      break;
    }
    case 4: {  // hair dryer / drill (gun-like L shape)
      o.push_back({kInorganic, 2.4f, {rounded_rect(-0.5f, -0.14f, 0.3f, 0.06f, 0.06f)}});
      o.push_back(
          {kInorganic, 2.4f, {{{0.05f, 0.0f}, {0.25f, 0.0f}, {0.28f, 0.45f}, {0.1f, 0.47f}}}});
      o.push_back({kMetal, 1.6f, {ellipse(-0.15f, -0.04f, 0.12f, 0.07f, 14)}});
      o.push_back({kMetal, 0.8f, {stroke({{0.18f, 0.45f}, {0.2f, 0.7f}, {0.4f, 0.8f}}, 0.02f)}});
      break;
    }
    case 5:  // bottle opener / key ring (wrench-like)
      o.push_back({kMetal, 2.0f, {rect(-0.3f, -0.04f, 0.3f, 0.04f)}});
      o.push_back({kMetal, 2.0f, ring(0.38f, 0, 0.1f, 0.1f, 0.035f, 14)});
      o.push_back({kMetal, 1.4f, ring(-0.4f, 0, 0.1f, 0.1f, 0.02f, 14)});
      break;
    default:  // belt buckle with strap
      o.push_back({kOrganic, 1.2f, {rect(-0.5f, -0.06f, 0.5f, 0.06f)}});
      o.push_back(
          {kMetal, 2.2f, {rect(0.3f, -0.11f, 0.46f, 0.11f), rect(0.33f, 0.08f, 0.43f, -0.08f)}});
      break;
  }
  return o;
}

// Benign clutter in pixel coordinates, drawn straight onto the canvas.
void draw_clutter(Canvas& cv, Rng& r, float cx, float cy, float unit) {
  Xf xf = make_xf(r.uni(0, 2 * kPi), unit, cx, cy, r.chance(0.5f));
  Object o;
  int kind = r.randint(12);
  switch (kind) {
    case 0:
    case 1:
    case 2: {  // clothes: big soft organic blobs with folds
      o.push_back(
          {kOrganic, r.uni(0.3f, 0.9f), {blob(r, r.uni(0.3f, 0.7f), r.uni(0.2f, 0.5f), 0.25f)}});
      for (int i = 0; i < 3; ++i) {
        float y = r.uni(-0.2f, 0.2f);
        o.push_back(
            {kOrganic,
             0.4f,
             {stroke({{-0.3f, y}, {0, y + r.uni(-0.1f, 0.1f)}, {0.3f, y + r.uni(-0.1f, 0.1f)}},
                     0.04f)}});
      }
      break;
    }
    case 3:  // bottle
      o.push_back({kOrganic, r.uni(1.5f, 3.0f), {rounded_rect(-0.3f, -0.1f, 0.2f, 0.1f, 0.06f)}});
      o.push_back({kOrganic, 1.5f, {rect(0.2f, -0.04f, 0.3f, 0.04f)}});
      o.push_back({kInorganic, 1.5f, {rect(0.3f, -0.05f, 0.34f, 0.05f)}});
      break;
    case 4: {  // electronics: board, chips, battery, cable
      o.push_back({kInorganic, r.uni(1.0f, 2.0f), {rect(-0.3f, -0.2f, 0.3f, 0.2f)}});
      for (int i = 0; i < 4; ++i) {
        float x = r.uni(-0.25f, 0.2f), y = r.uni(-0.15f, 0.1f);
        o.push_back({kMetal,
                     r.uni(0.5f, 1.5f),
                     {rect(x, y, x + r.uni(0.03f, 0.1f), y + r.uni(0.03f, 0.08f))}});
      }
      o.push_back({kMetal, 2.5f, {rect(0.05f, 0.05f, 0.25f, 0.15f)}});
      break;
    }
    case 5: {  // cable
      std::vector<V2> p;
      float x = -0.5f, y = 0, a = r.uni(-1, 1);
      for (int i = 0; i < 10; ++i) {
        p.push_back({x, y});
        a += r.uni(-0.8f, 0.8f);
        x += 0.12f * std::cos(a);
        y += 0.12f * std::sin(a);
      }
      o.push_back({r.chance(0.5f) ? kInorganic : kMetal, 1.0f, {stroke(p, 0.018f)}});
      break;
    }
    case 6:  // keys
      for (int i = 0; i < 2 + r.randint(3); ++i) {
        float a = r.uni(-0.6f, 0.6f);
        Part k{kMetal,
               1.6f,
               {{{0, -0.02f}, {0.12f, -0.02f}, {0.14f, 0.0f}, {0.12f, 0.02f}, {0, 0.02f}},
                ellipse(-0.03f, 0, 0.035f, 0.035f, 10)}};
        rotate_part(k, {-0.08f, 0}, a);
        o.push_back(k);
      }
      o.push_back({kMetal, 0.8f, ring(-0.1f, 0, 0.05f, 0.05f, 0.01f, 12)});
      break;
    case 7:  // coins
      for (int i = 0; i < 1 + r.randint(4); ++i)
        o.push_back(
            {kMetal, 1.8f, {ellipse(r.uni(-0.1f, 0.1f), r.uni(-0.1f, 0.1f), 0.05f, 0.05f, 12)}});
      break;
    case 8:  // metal rods / umbrella ribs
      for (int i = 0; i < 1 + r.randint(5); ++i)
        o.push_back(
            {kMetal,
             r.uni(0.6f, 1.5f),
             {stroke({{-0.6f, r.uni(-0.05f, 0.05f)}, {0.6f, r.uni(-0.15f, 0.15f)}}, 0.015f)}});
      break;
    case 9:  // shoe
      o.push_back({kOrganic, r.uni(1.0f, 2.0f), {blob(r, 0.35f, 0.13f, 0.15f)}});
      o.push_back({kOrganic, 1.0f, {stroke({{-0.35f, 0.12f}, {0, 0.14f}, {0.35f, 0.1f}}, 0.05f)}});
      break;
    case 10:  // toiletries
      for (int i = 0; i < 2 + r.randint(3); ++i)
        o.push_back({r.chance(0.7f) ? kOrganic : kInorganic,
                     r.uni(1.0f, 2.5f),
                     {rounded_rect(r.uni(-0.3f, 0.1f), r.uni(-0.2f, 0.1f), r.uni(0.15f, 0.3f),
                                   r.uni(0.12f, 0.25f), 0.03f)}});
      break;
    default: {  // frame: a rectangle of metal bars (a laptop, a folder clip)
      float w = r.uni(0.2f, 0.45f), h = r.uni(0.15f, 0.3f);
      o.push_back({kInorganic, r.uni(0.6f, 1.2f), {rect(-w, -h, w, h)}});
      o.push_back(
          {kMetal, 0.8f, {rect(-w, -h, w, h), rect(-w + 0.02f, h - 0.02f, w - 0.02f, -h + 0.02f)}});
      break;
    }
  }
  cv.draw(o, xf);
}

// Class weights among positives (facts.md: Gun 3100, Knife 1900, Wrench 2200, Pliers 4000,
// Scissors 1000).
constexpr float kClassWeight[kNumClasses] = {3100, 1900, 2200, 4000, 1000};

Object make_threat(int cls, Rng& r) {
  switch (cls) {
    case 0:
      return make_gun(r);
    case 1:
      return make_knife(r);
    case 2:
      return make_wrench(r);
    case 3:
      return make_pliers(r);
    default:
      return make_scissors(r);
  }
}

// Pseudo-colour: per-channel attenuation coefficients of each material (R, G, B), so that
// thin organic is pale orange, inorganic green, metal blue and thick metal near black.
constexpr float kMu[3][3] = {{0.05f, 0.24f, 0.55f}, {0.5f, 0.18f, 0.65f}, {1.05f, 0.62f, 0.22f}};

}  // namespace

std::array<int8_t, kNumClasses> synth_positive_labels(uint64_t seed, int64_t i) {
  Rng r(seed, static_cast<uint64_t>(i), 0x6c6162656c73ull);
  std::array<int8_t, kNumClasses> l;
  l.fill(-1);
  float u = r.uni();
  int n = u < 0.72f ? 1 : (u < 0.93f ? 2 : 3);
  float w[kNumClasses];
  std::copy(kClassWeight, kClassWeight + kNumClasses, w);
  for (int k = 0; k < n; ++k) {
    float total = 0;
    for (float x : w) total += x;
    float t = r.uni() * total;
    int c = 0;
    while (c < kNumClasses - 1 && t >= w[c]) t -= w[c++];
    l[c] = 1;
    w[c] = 0;
  }
  return l;
}

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

}  // namespace

Image render_scan(uint64_t seed, uint64_t image_id, const std::array<int8_t, kNumClasses>& labels,
                  int width, int height, double difficulty) {
  GBAD_CHECK(width >= 16 && height >= 16, "render_scan: image too small ", width, "x", height);
  const float d = static_cast<float>(std::clamp(difficulty, 0.0, 1.0));
  Rng r(seed, image_id, 0x7363656e65ull);
  Canvas cv(width, height);
  const float W = float(width), H = float(height), S = std::min(W, H);

  // Bag: a rounded box, slightly rotated, with a thick rim, handle, zip and sometimes a frame.
  float bw = W * r.uni(0.78f, 0.94f), bh = H * r.uni(0.78f, 0.94f);
  Xf bag = make_xf(r.uni(-0.2f, 0.2f), 1.f, W / 2 + r.uni(-0.03f, 0.03f) * W,
                   H / 2 + r.uni(-0.03f, 0.03f) * H, false);
  const float rad = S * r.uni(0.04f, 0.12f);
  Object body;
  body.push_back(
      {kOrganic, r.uni(0.15f, 0.4f), {rounded_rect(-bw / 2, -bh / 2, bw / 2, bh / 2, rad)}});
  const float rim = std::max(1.5f, S * 0.012f);
  body.push_back(
      {kOrganic, r.uni(0.6f, 1.2f), {rounded_rect(-bw / 2, -bh / 2, bw / 2, bh / 2, rad), [&] {
                                       Contour c = rounded_rect(-bw / 2 + rim, -bh / 2 + rim,
                                                                bw / 2 - rim, bh / 2 - rim, rad);
                                       std::reverse(c.begin(), c.end());
                                       return c;
                                     }()}});
  body.push_back({kMetal,
                  0.5f,
                  {stroke({{-bw * 0.4f, -bh / 2 + rim * 2}, {bw * 0.4f, -bh / 2 + rim * 2}},
                          std::max(1.0f, S * 0.006f))}});
  if (r.chance(0.5f)) {  // trolley frame: long parallel bars
    float x0 = r.uni(-0.4f, -0.2f) * bw;
    for (int i = 0; i < 2; ++i) {
      float x = x0 + i * r.uni(0.05f, 0.12f) * bw;
      body.push_back({i ? kMetal : kInorganic,
                      r.uni(1.0f, 2.0f),
                      {rect(x, -bh * 0.46f, x + S * 0.02f, bh * 0.46f)}});
    }
  }
  if (r.chance(0.6f))
    body.push_back(
        {kOrganic,
         0.8f,
         {stroke(arc(0, -bh / 2, bw * 0.18f, bh * 0.06f, kPi, 2 * kPi, 8), S * 0.012f)}});
  cv.draw(body, bag);

  auto inside = [&](float mx, float my) {  // a point inside the bag (margins mx, my in 0..0.5)
    V2 p{r.uni(-0.5f + mx, 0.5f - mx) * bw, r.uni(-0.5f + my, 0.5f - my) * bh};
    return bag(p);
  };

  // Low-frequency organic texture (packed clothes) over the inside of the bag.
  const int clutter = static_cast<int>(8 + 14 * d + r.randint(6));
  for (int i = 0; i < clutter; ++i) {
    V2 p = inside(0.1f, 0.1f);
    draw_clutter(cv, r, p.x, p.y, S * r.uni(0.18f, 0.42f));
  }
  // Look-alikes (in every image, so they predict nothing).
  const int looks = static_cast<int>(r.uni(0.3f, 1.0f) * (1 + 3 * d) + 0.5f);
  for (int i = 0; i < looks; ++i) {
    V2 p = inside(0.2f, 0.2f);
    cv.draw(make_lookalike(r),
            make_xf(r.uni(0, 2 * kPi), S * r.uni(0.25f, 0.45f), p.x, p.y, r.chance(0.5f)));
  }
  // Threats, then clutter over them (occlusion grows with difficulty).
  for (int c = 0; c < kNumClasses; ++c) {
    if (labels[c] != 1) continue;
    V2 p = inside(0.25f, 0.25f);
    float len = S * r.uni(0.32f, 0.6f) * (1.f - 0.3f * d * r.uni());
    Rng tr(seed, image_id, 0x74687200ull + c);
    cv.draw(make_threat(c, tr), make_xf(r.uni(0, 2 * kPi), len, p.x, p.y, r.chance(0.5f)));
    const int occ = static_cast<int>(d * 3 * r.uni() + 0.5f);
    for (int k = 0; k < occ; ++k)
      draw_clutter(cv, r, p.x + r.uni(-0.2f, 0.2f) * len, p.y + r.uni(-0.2f, 0.2f) * len,
                   S * r.uni(0.15f, 0.3f));
  }

  // Attenuation per channel, edge enhancement (unsharp mask on a 3x3 box), noise, colour.
  const size_t np = size_t(width) * height;
  const std::vector<float>& to = cv.map(kOrganic);
  const std::vector<float>& ti = cv.map(kInorganic);
  const std::vector<float>& tm = cv.map(kMetal);
  std::vector<float> att(np * 3), blur(np);
  for (int ch = 0; ch < 3; ++ch) {
    float* a = &att[np * ch];
    for (size_t i = 0; i < np; ++i)
      a[i] = kMu[0][ch] * to[i] + kMu[1][ch] * ti[i] + kMu[2][ch] * std::max(0.f, tm[i]);
  }
  const float sharpen = 0.8f;
  std::vector<float> rowsum(np);
  for (int ch = 0; ch < 3; ++ch) {
    float* a = &att[np * ch];
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const float* row = a + size_t(y) * width;
        float s = row[x] + row[std::max(0, x - 1)] + row[std::min(width - 1, x + 1)];
        rowsum[size_t(y) * width + x] = s;
      }
    for (int y = 0; y < height; ++y) {
      const float* up = &rowsum[size_t(std::max(0, y - 1)) * width];
      const float* mid = &rowsum[size_t(y) * width];
      const float* dn = &rowsum[size_t(std::min(height - 1, y + 1)) * width];
      float* row = a + size_t(y) * width;
      for (int x = 0; x < width; ++x) {
        float b = (up[x] + mid[x] + dn[x]) * (1.f / 9.f);
        blur[size_t(y) * width + x] = std::max(0.f, row[x] + sharpen * (row[x] - b));
      }
    }
    std::copy(blur.begin(), blur.end(), a);
  }
  Rng nr(seed, image_id, 0x6e6f697365ull);
  std::vector<float> col_gain(width);
  for (auto& g : col_gain) g = 1.f + 0.015f * nr.normal();
  const float bg[3] = {0.035f, 0.02f, 0.01f};  // the empty belt: very light blue-white
  Image img;
  img.width = width;
  img.height = height;
  img.pixels.resize(np * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      size_t i = size_t(y) * width + x;
      // Triangular noise from one draw (two 16-bit uniforms): cheap and plenty for sensor noise.
      uint64_t bits = nr.next();
      float n = 0.03f * 2.449f *
                ((float(bits >> 48) + float((bits >> 32) & 0xFFFF)) * (1.f / 65536.f) - 1.f);
      for (int ch = 0; ch < 3; ++ch) {
        float a = att[np * ch + i] + bg[ch] + n * (0.3f + att[np * ch + i]);
        float v = 255.f * exp_neg(a) * col_gain[x];
        img.pixels[i * 3 + ch] = static_cast<uint8_t>(std::clamp(v + 0.5f, 0.f, 255.f));
      }
    }
  return img;
}

SynthSummary generate_synthetic_dataset(const SynthConfig& cfg,
                                        const std::function<void(int64_t, int64_t)>& progress) {
  GBAD_CHECK(!cfg.out.empty(), "gbad-synth: no output folder given");
  GBAD_CHECK(cfg.positives > 0 && cfg.positives <= 99999, "gbad-synth: positives must be in ",
             "1..99999 (P + 5 digits), got ", cfg.positives);
  GBAD_CHECK(!cfg.ratios.empty(), "gbad-synth: no ratios given");
  for (int rt : cfg.ratios) GBAD_CHECK(rt > 0, "gbad-synth: ratio must be positive, got ", rt);
  GBAD_CHECK(cfg.size >= 32 && cfg.size <= 4096, "gbad-synth: size must be in 32..4096, got ",
             cfg.size);
  GBAD_CHECK(cfg.size_jitter >= 0 && cfg.size_jitter < 0.9, "gbad-synth: size jitter must be in ",
             "[0, 0.9), got ", cfg.size_jitter);
  GBAD_CHECK(cfg.difficulty >= 0 && cfg.difficulty <= 1, "gbad-synth: difficulty must be in ",
             "[0, 1], got ", cfg.difficulty);
  GBAD_CHECK(cfg.test_fraction > 0 && cfg.test_fraction < 1, "gbad-synth: test fraction must be ",
             "in (0, 1), got ", cfg.test_fraction);
  GBAD_CHECK(cfg.quality >= 1 && cfg.quality <= 100, "gbad-synth: JPEG quality must be in ",
             "1..100, got ", cfg.quality);
  const int max_ratio = *std::max_element(cfg.ratios.begin(), cfg.ratios.end());
  const int64_t P = cfg.positives, N = P * max_ratio;
  GBAD_CHECK(N <= 9999999, "gbad-synth: ", N, " negatives do not fit N + 7 digits");

  auto t0 = std::chrono::steady_clock::now();
  const fs::path out(cfg.out), img_dir = out / "JPEGImage";
  std::error_code ec;
  fs::create_directories(img_dir, ec);
  GBAD_CHECK(!ec, "cannot create ", img_dir.string(), ": ", ec.message());

  auto stem_of = [&](int64_t id) {
    char buf[32];
    if (id < P)
      std::snprintf(buf, sizeof buf, "P%05lld", static_cast<long long>(id + 1));
    else
      std::snprintf(buf, sizeof buf, "N%07lld", static_cast<long long>(id - P + 1));
    return std::string(buf);
  };
  std::vector<std::array<int8_t, kNumClasses>> labels(static_cast<size_t>(P + N));
  for (int64_t i = 0; i < P + N; ++i) {
    if (i < P) {
      labels[i] = synth_positive_labels(cfg.seed, i);
    } else {
      labels[i].fill(-1);
    }
  }

  // Render + encode + write, in parallel; each image depends only on (seed, id).
  const int64_t total = P + N;
  int threads =
      cfg.threads > 0 ? cfg.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(total)));
  std::atomic<int64_t> next{0}, done{0}, bytes{0};
  std::mutex err_mu;
  std::string first_error;
  auto work = [&] {
    while (true) {
      int64_t id = next.fetch_add(1);
      if (id >= total) return;
      try {
        Rng sz(cfg.seed, static_cast<uint64_t>(id), 0x73697a65ull);
        const double j = cfg.size_jitter;
        int w =
            std::max(16, static_cast<int>(std::lround(cfg.size * (1 + j * (2 * sz.uni() - 1)))));
        int h =
            std::max(16, static_cast<int>(std::lround(cfg.size * (1 + j * (2 * sz.uni() - 1)))));
        Image img =
            render_scan(cfg.seed, static_cast<uint64_t>(id), labels[id], w, h, cfg.difficulty);
        std::vector<uint8_t> jpg = encode_jpeg(img, cfg.quality);
        fs::path p = img_dir / (stem_of(id) + ".jpg");
        std::ofstream f(p, std::ios::binary);
        f.write(reinterpret_cast<const char*>(jpg.data()),
                static_cast<std::streamsize>(jpg.size()));
        GBAD_CHECK(f.good(), "cannot write ", p.string());
        bytes += static_cast<int64_t>(jpg.size());
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.empty()) first_error = e.what();
        next = total;
        return;
      }
      int64_t k = ++done;
      if (progress && (k % 500 == 0 || k == total)) progress(k, total);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  GBAD_CHECK(first_error.empty(), first_error);

  // Split CSVs. Positives: a seeded 80/20 split shared by all ratios. Negatives: a fixed test
  // share of every block, so larger ratios contain the smaller ones' images.
  std::vector<int64_t> perm(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) perm[i] = i;
  for (int64_t i = P; i > 1; --i) {
    U32x4 rr = philox4x32(cfg.seed, static_cast<uint64_t>(i), 0x73706c6974ull);
    std::swap(perm[i - 1], perm[(uint64_t(rr.v[0]) << 32 | rr.v[1]) % uint64_t(i)]);
  }
  const int64_t p_test = std::max<int64_t>(1, std::llround(P * cfg.test_fraction));
  GBAD_CHECK(P - p_test >= 1, "gbad-synth: need at least 2 positives for a train/test split");
  std::vector<bool> pos_test(static_cast<size_t>(P), false);
  for (int64_t k = 0; k < p_test; ++k) pos_test[perm[k]] = true;
  const int64_t period = std::max<int64_t>(2, std::llround(1.0 / cfg.test_fraction));
  auto neg_test = [&](int64_t j) { return j % period == period - 1; };

  auto write_csv = [&](const fs::path& path, bool test, int64_t nneg) {
    std::string tmp = path.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      GBAD_CHECK(f, "cannot write ", tmp);
      f << "name";
      for (const char* c : kClassNames) f << ',' << c;
      f << '\n';
      auto row = [&](int64_t id) {
        f << stem_of(id);
        for (int8_t l : labels[id]) f << ',' << int(l);
        f << '\n';
      };
      for (int64_t i = 0; i < P; ++i)
        if (pos_test[i] == test) row(i);
      for (int64_t j = 0; j < nneg; ++j)
        if (neg_test(j) == test) row(P + j);
      GBAD_CHECK(f.good(), "cannot write ", tmp);
    }
    fs::rename(tmp, path, ec);
    GBAD_CHECK(!ec, "cannot rename ", tmp, ": ", ec.message());
  };
  for (int rt : cfg.ratios) {
    fs::path dir = out / "ImageSet" / std::to_string(rt);
    fs::create_directories(dir, ec);
    GBAD_CHECK(!ec, "cannot create ", dir.string(), ": ", ec.message());
    write_csv(dir / "train.csv", false, P * rt);
    write_csv(dir / "test.csv", true, P * rt);
  }

  SynthSummary s;
  s.positives = P;
  s.negatives = N;
  for (int64_t i = 0; i < P; ++i)
    for (int c = 0; c < kNumClasses; ++c) s.class_positives[c] += labels[i][c] == 1;
  s.bytes = bytes;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace gbad
