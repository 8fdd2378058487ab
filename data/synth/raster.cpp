#include "data/synth/raster.h"

namespace gbad::synth {

Contour rect(float x0, float y0, float x1, float y1) {
  return {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
}

Contour ellipse(float cx, float cy, float rx, float ry, int n, bool reverse) {
  Contour c(n);
  for (int i = 0; i < n; ++i) {
    float a = 2 * kPi * (reverse ? n - i : i) / n;
    c[i] = {cx + rx * std::cos(a), cy + ry * std::sin(a)};
  }
  return c;
}

Contour rounded_rect(float x0, float y0, float x1, float y1, float r, int seg) {
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

Contour reversed(Contour c) {
  std::reverse(c.begin(), c.end());
  return c;
}

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

std::vector<Contour> ring(float cx, float cy, float rx, float ry, float w, int n) {
  return {ellipse(cx, cy, rx, ry, n), ellipse(cx, cy, rx - w, ry - w, n, true)};
}

Contour blob(Rng& r, float rx, float ry, float rough, int n) {
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

std::vector<V2> wander(Rng& r, V2 start, float angle, int n, float step, float turn) {
  std::vector<V2> p{start};
  for (int i = 0; i < n; ++i) {
    angle += r.uni(-turn, turn);
    start = {start.x + step * std::cos(angle), start.y + step * std::sin(angle)};
    p.push_back(start);
  }
  return p;
}

void rotate_part(Part& p, V2 pivot, float a) {
  float c = std::cos(a), s = std::sin(a);
  for (auto& ct : p.contours)
    for (auto& v : ct) {
      float x = v.x - pivot.x, y = v.y - pivot.y;
      v = {pivot.x + c * x - s * y, pivot.y + s * x + c * y};
    }
  // Profiles are axis-aligned in part coordinates: a rotated part keeps its profile's centre,
  // and a cylinder's profile becomes flat (domes stay as they are).
  float x = p.prof.cx - pivot.x, y = p.prof.cy - pivot.y;
  p.prof.cx = pivot.x + c * x - s * y;
  p.prof.cy = pivot.y + s * x + c * y;
  if (p.prof.kind != Profile::kDome) p.prof.kind = Profile::kFlat;
}

Part cyl_x(float z, float mass, float x0, float y0, float x1, float y1, float round) {
  Part p{z, mass, {round > 0 ? rounded_rect(x0, y0, x1, y1, round) : rect(x0, y0, x1, y1)}};
  p.prof = {Profile::kCylX, (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2};
  return p;
}

Part cyl_y(float z, float mass, float x0, float y0, float x1, float y1, float round) {
  Part p{z, mass, {round > 0 ? rounded_rect(x0, y0, x1, y1, round) : rect(x0, y0, x1, y1)}};
  p.prof = {Profile::kCylY, (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2};
  return p;
}

Part shell_x(float z, float mass, float x0, float y0, float x1, float y1, float wall) {
  Part p{z, mass, {rounded_rect(x0, y0, x1, y1, (y1 - y0) * 0.2f)}};
  p.prof = {Profile::kShellX, (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, wall};
  return p;
}

Part dome(float z, float mass, float cx, float cy, float rx, float ry, int n) {
  Part p{z, mass, {ellipse(cx, cy, rx, ry, n)}};
  p.prof = {Profile::kDome, cx, cy, rx, ry};
  return p;
}

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

Canvas::Canvas(int w, int h)
    : w_(w), h_(h), mass_(size_t(w) * h, 0.f), photo_(size_t(w) * h, 0.f), cov_(w + 2, 0.f) {}

void Canvas::draw(const Object& obj, const Xf& xf) {
  std::vector<Contour> cs;
  for (const Part& p : obj) {
    cs = p.contours;
    for (auto& c : cs)
      for (auto& v : c) v = xf(v);
    fill(p, cs, xf);
  }
}

void Canvas::fill(const Part& p, const std::vector<Contour>& cs, const Xf& xf) {
  float ymin = 1e30f, ymax = -1e30f;
  for (const auto& c : cs)
    for (const auto& v : c) ymin = std::min(ymin, v.y), ymax = std::max(ymax, v.y);
  const int y0 = std::max(0, static_cast<int>(std::floor(ymin)));
  const int y1 = std::min(h_ - 1, static_cast<int>(std::ceil(ymax)));
  const float zr = p.z / 10.f, photo = p.mass * zr * zr * zr;
  const bool flat = p.prof.kind == Profile::kFlat;
  // Object coordinates move linearly along a row: u = u0 + x * du, v = v0 + x * dv.
  V2 o0 = xf.inverse({0.5f, 0.5f}), ox = xf.inverse({1.5f, 0.5f}), oy = xf.inverse({0.5f, 1.5f});
  const float du = ox.x - o0.x, dv = ox.y - o0.y, duy = oy.x - o0.x, dvy = oy.y - o0.y;
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
    float* m = &mass_[size_t(y) * w_];
    float* ph = &photo_[size_t(y) * w_];
    xr = std::min(xr, w_ - 1);
    const float u0 = o0.x + y * duy, v0 = o0.y + y * dvy;
    for (int x = xl; x <= xr; ++x) {
      float k = std::min(1.f, cov_[x]);
      cov_[x] = 0;
      if (!flat) k *= p.prof.eval(u0 + x * du, v0 + x * dv);
      m[x] += p.mass * k;
      ph[x] += photo * k;
    }
    cov_[xr + 1] = 0;
  }
}

}  // namespace gbad::synth
