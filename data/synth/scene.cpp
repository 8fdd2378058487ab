// Scene composition: bags or a tray filling the scan, packed with clutter, threats and
// look-alikes at real-world scale, then rendered by the dual-energy scanner model.
#include "core/check.h"
#include "data/synth.h"
#include "data/synth/objects.h"
#include "data/synth/xray.h"

namespace gbad {

using namespace synth;

namespace {

// A container (bag or tray) in the image: its transform from centimetres to pixels and its
// inner half-sizes in centimetres.
struct Container {
  Xf xf;
  float hw, hh;
  V2 random_point(Rng& r, float margin) const {
    const float mx = std::max(0.f, hw - margin), my = std::max(0.f, hh - margin);
    return xf({r.uni(-mx, mx), r.uni(-my, my)});
  }
};

// Items are packed roughly along the container's axes, some at random angles.
float item_angle(Rng& r, float container_angle) {
  if (r.chance(0.55f)) return container_angle + r.randint(4) * kPi / 2 + r.uni(-0.15f, 0.15f);
  return r.uni(0, 2 * kPi);
}

float angle_of(const Xf& xf) {
  return std::atan2(xf.s, xf.c);
}

// Packs a container with large items at the bottom and smaller ones over them.
void fill_container(Canvas& cv, Rng& r, const Container& c, float px_per_cm, float amount) {
  const float area = 4 * c.hw * c.hh;
  const int large = std::max(1, static_cast<int>(amount * area / 900.f * r.uni(0.6f, 1.4f) + 0.5f));
  const int small = static_cast<int>(amount * area / 170.f * r.uni(0.6f, 1.4f) + 0.5f);
  const float a = angle_of(c.xf);
  for (int i = 0; i < large + small; ++i) {
    Object o = make_clutter(r, i < large);
    V2 p = c.random_point(r, 4.f);
    cv.draw(o, make_xf(item_angle(r, a), px_per_cm, p.x, p.y, r.chance(0.5f)));
  }
}

}  // namespace

Image render_scan(uint64_t seed, uint64_t image_id, const std::array<int8_t, kNumClasses>& labels,
                  int width, int height, double difficulty, double density) {
  GBAD_CHECK(width >= 16 && height >= 16, "render_scan: image too small ", width, "x", height);
  GBAD_CHECK(density > 0 && density <= 4, "render_scan: density must be in (0, 4], got ", density);
  const float d = static_cast<float>(std::clamp(difficulty, 0.0, 1.0));
  Rng r(seed, image_id, 0x7363656e65ull);
  Canvas cv(width, height);
  const float W = float(width), H = float(height);

  // The main container fills most of the scan (scans are cropped to the luggage), slightly
  // rotated, with white margins or cut by the image border.
  const bool tray = r.chance(0.12f);
  const float bw = tray ? r.uni(50.f, 65.f) : r.uni(36.f, 75.f);
  const float aspect = (H / W) * r.uni(0.8f, 1.15f);
  const float bh = std::clamp(bw * aspect, 25.f, 80.f);
  const float angle = std::clamp(0.2f * r.normal(), -0.5f, 0.5f);
  const float ca = std::abs(std::cos(angle)), sa = std::abs(std::sin(angle));
  const float fill = r.uni(0.9f, 1.15f);
  const float px_per_cm = fill * std::min(W / (bw * ca + bh * sa), H / (bw * sa + bh * ca));
  Container main{
      make_xf(angle, px_per_cm, W / 2 + r.uni(-0.04f, 0.04f) * W, H / 2 + r.uni(-0.04f, 0.04f) * H),
      bw / 2 - 2.f, bh / 2 - 2.f};
  cv.draw(tray ? make_tray(r, bw, bh) : make_bag(r, bw, bh), main.xf);
  const float amount = static_cast<float>(density) * (0.75f + 0.5f * d);
  fill_container(cv, r, main, px_per_cm, amount);

  // Often a second, smaller bag overlaps the first, or loose items lie beside it.
  const float second = r.uni();
  if (second < 0.3f) {
    const float sw = r.uni(20.f, 40.f), sh = sw * r.uni(0.5f, 0.9f);
    V2 p = main.random_point(r, 0.f);
    Container c2{make_xf(r.uni(0, 2 * kPi), px_per_cm, p.x, p.y), sw / 2 - 1.5f, sh / 2 - 1.5f};
    cv.draw(make_bag(r, sw, sh), c2.xf);
    fill_container(cv, r, c2, px_per_cm, amount);
  } else if (second < 0.55f) {
    const int n = 1 + r.randint(3);
    for (int i = 0; i < n; ++i) {
      V2 p{r.uni(0.f, W), r.uni(0.f, H)};
      cv.draw(make_clutter(r, false), make_xf(r.uni(0, 2 * kPi), px_per_cm, p.x, p.y));
    }
  }

  // Benign look-alikes in positives and negatives alike, so that they predict nothing.
  const int looks = static_cast<int>(r.uni(0.3f, 1.0f) * (1 + 3 * d) + 0.5f);
  for (int i = 0; i < looks; ++i) {
    V2 p = main.random_point(r, 8.f);
    cv.draw(make_lookalike(r), make_xf(r.uni(0, 2 * kPi), px_per_cm, p.x, p.y, r.chance(0.5f)));
  }
  // Threats at real size anywhere in the bag, with clutter overlapping them (more when harder).
  for (int c = 0; c < kNumClasses; ++c) {
    if (labels[c] != 1) continue;
    Rng tr(seed, image_id, 0x74687200ull + c);
    V2 p = main.random_point(r, 10.f);
    cv.draw(make_threat(c, tr), make_xf(r.uni(0, 2 * kPi), px_per_cm, p.x, p.y, r.chance(0.5f)));
    const int occ = static_cast<int>(d * 3 * r.uni() + 0.5f);
    for (int k = 0; k < occ; ++k) {
      V2 q{p.x + r.uni(-6.f, 6.f) * px_per_cm, p.y + r.uni(-6.f, 6.f) * px_per_cm};
      cv.draw(make_clutter(r, false), make_xf(r.uni(0, 2 * kPi), px_per_cm, q.x, q.y));
    }
  }

  Rng nr(seed, image_id, 0x6e6f697365ull);
  return render_xray(cv, nr);
}

}  // namespace gbad
