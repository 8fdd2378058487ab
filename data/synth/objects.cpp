#include "data/synth/objects.h"

namespace gbad::synth {

namespace {

// Steel is 7.9 g/cm^3: 1 mm of it is 0.79 g/cm^2. Organic solids are about 1 g/cm^3.
constexpr float kLead = 82.f;

void scale(Object& o, float k) {
  for (Part& p : o) {
    for (auto& c : p.contours)
      for (auto& v : c) v = {v.x * k, v.y * k};
    p.prof.cx *= k, p.prof.cy *= k, p.prof.rx *= k, p.prof.ry *= k;
  }
}

// Appends `src` rotated by `angle` about the origin and moved to `at`.
void place(Object& dst, Object src, float angle, V2 at) {
  for (Part& p : src) {
    if (angle != 0) rotate_part(p, {0, 0}, angle);
    for (auto& c : p.contours)
      for (auto& v : c) v = {v.x + at.x, v.y + at.y};
    p.prof.cx += at.x, p.prof.cy += at.y;
    dst.push_back(std::move(p));
  }
}

// An insulated wire along `path` (cm): PVC sheath with a copper core.
void wire(Object& o, const std::vector<V2>& path, float d) {
  o.push_back({z::kPvc, 1.3f * d, {stroke(path, d)}});
  o.push_back({z::kCopper, 8.9f * 0.25f * d, {stroke(path, 0.3f * d)}});
}

// A cylindrical cell (AA battery, 18650): steel can, denser electrode roll, brass cap.
Object cell(float len, float dia) {
  Object o;
  o.push_back(shell_x(z::kSteel, 1.6f, -len / 2, -dia / 2, len / 2, dia / 2, 0.15f));
  o.push_back(
      cyl_x(z::kLithium, 0.9f * dia, -len / 2 + 0.2f, -dia * 0.42f, len / 2 - 0.3f, dia * 0.42f));
  o.push_back({z::kBrass, 1.5f, {rect(len / 2 - 0.3f, -dia * 0.15f, len / 2, dia * 0.15f)}});
  return o;
}

// ---- threats (drawn in unit length, then scaled to centimetres)
// -----------------------------------

Object make_pistol(Rng& r) {
  Object o;
  const float sh = r.uni(0.14f, 0.18f);
  o.push_back({z::kSteel, r.uni(4.5f, 7.f), {rect(-0.5f, -sh, 0.5f, 0)}});               // slide
  o.push_back(cyl_x(z::kSteel, r.uni(3.f, 5.f), -0.5f, -sh * 0.78f, 0.3f, -sh * 0.3f));  // barrel
  o.push_back(cyl_x(z::kSteel, 1.5f, -0.45f, -0.02f, 0.05f, 0.03f));                     // spring
  o.push_back({z::kSteel, 4.f, {rect(0.44f, -sh - 0.025f, 0.48f, -sh)}});                // sights
  o.push_back({z::kSteel, 4.f, {rect(-0.47f, -sh - 0.02f, -0.44f, -sh)}});
  if (r.chance(0.5f)) o.push_back({z::kSteel, -2.f, {rect(0.0f, -sh, 0.18f, -sh * 0.55f)}});
  const bool polymer = r.chance(0.6f);
  const float fz = polymer ? z::kPlastic : z::kSteel, fm = polymer ? 3.5f : 4.f;
  o.push_back({fz, fm, {rect(-0.42f, 0.f, 0.5f, 0.07f)}});  // frame
  const float g = r.uni(0.06f, 0.14f), gw = r.uni(0.24f, 0.3f), gl = r.uni(0.5f, 0.62f);
  const float gx = 0.5f - gw - 0.02f;
  o.push_back({fz, fm, {{{gx, 0.05f}, {gx + gw, 0.05f}, {gx + gw + g, gl}, {gx + g, gl + 0.03f}}}});
  // Magazine with a column of cartridges inside the grip.
  o.push_back({z::kSteel,
               1.8f,
               {{{gx + 0.05f, 0.07f},
                 {gx + gw - 0.06f, 0.07f},
                 {gx + gw - 0.06f + g, gl},
                 {gx + 0.05f + g, gl}}}});
  for (int i = 0; i < 5; ++i) {
    float t = 0.12f + 0.07f * i, x = gx + 0.07f + g * t / gl;
    o.push_back({z::kBrass, 2.5f, {rect(x, t, x + gw - 0.16f, t + 0.045f)}});
    o.push_back({kLead, 1.2f, {rect(x, t, x + 0.06f, t + 0.045f)}});
  }
  o.push_back({fz,
               polymer ? 2.5f : 3.f,
               {stroke({{gx + 0.01f, 0.06f},
                        {gx - 0.02f, 0.2f},
                        {gx - 0.18f, 0.22f},
                        {gx - 0.24f, 0.15f},
                        {gx - 0.24f, 0.06f}},
                       0.035f)}});  // trigger guard
  o.push_back({z::kSteel,
               3.f,
               {stroke({{gx - 0.1f, 0.06f}, {gx - 0.08f, 0.12f}, {gx - 0.12f, 0.16f}}, 0.03f)}});
  return o;
}

Object make_revolver(Rng& r) {
  Object o;
  const float bl = r.uni(0.4f, 0.55f), x0 = -0.5f, cx = x0 + bl + 0.12f;
  o.push_back(cyl_x(z::kSteel, r.uni(5.f, 7.f), x0, -0.13f, x0 + bl, -0.04f));   // barrel
  o.push_back({z::kSteel, 3.f, {rect(x0, -0.15f, x0 + bl, -0.12f)}});            // rib
  o.push_back({z::kSteel, 4.f, {rect(cx - 0.14f, -0.18f, cx + 0.24f, 0.03f)}});  // frame
  o.push_back(cyl_x(z::kSteel, 7.f, cx - 0.12f, -0.17f, cx + 0.12f, 0.02f));     // cylinder
  for (int i = 0; i < 3; ++i) {  // chambers with cartridges
    float y = -0.15f + 0.055f * i;
    o.push_back({z::kBrass, 2.f, {rect(cx - 0.12f, y, cx + 0.1f, y + 0.03f)}});
    o.push_back({kLead, 1.5f, {rect(cx - 0.12f, y, cx - 0.06f, y + 0.03f)}});
  }
  const float gz = r.chance(0.6f) ? z::kWood : z::kPlastic;
  o.push_back(
      {gz, 3.5f, {{{cx + 0.1f, 0}, {cx + 0.26f, -0.02f}, {cx + 0.38f, 0.44f}, {cx + 0.2f, 0.5f}}}});
  o.push_back({z::kSteel,
               2.f,
               {{{cx + 0.12f, 0}, {cx + 0.22f, -0.01f}, {cx + 0.3f, 0.38f}, {cx + 0.22f, 0.42f}}}});
  o.push_back(
      {z::kSteel,
       3.f,
       {stroke({{cx + 0.06f, 0.02f}, {cx + 0.02f, 0.15f}, {cx - 0.12f, 0.17f}, {cx - 0.14f, 0.03f}},
               0.03f)}});
  o.push_back({z::kSteel, 4.f, {stroke({{cx + 0.2f, -0.17f}, {cx + 0.3f, -0.22f}}, 0.04f)}});
  return o;
}

Object make_gun(Rng& r) {
  Object o = r.chance(0.75f) ? make_pistol(r) : make_revolver(r);
  scale(o, r.uni(16.f, 24.f));
  return o;
}

// Kitchen knife, folding knife or dagger: steel blade, handle with tang and rivets.
Object make_knife(Rng& r) {
  Object o;
  const float kind = r.uni();
  const float bt = r.uni(1.2f, 2.f);  // 1.5 - 2.5 mm of steel
  if (kind < 0.6f) {                  // kitchen / chef's / dagger
    const float L = r.uni(22.f, 34.f), hl = r.uni(0.32f, 0.4f), hw = r.uni(0.035f, 0.045f);
    const float bw = r.uni(0.06f, 0.15f), xg = -0.5f + hl;
    const bool steel_handle = r.chance(0.2f);
    o.push_back(cyl_x(steel_handle ? z::kSteel : (r.chance(0.5f) ? z::kWood : z::kPlastic),
                      steel_handle ? 1.5f : 2.6f, -0.5f, -hw, xg, hw, hw * 0.8f));
    if (!steel_handle) {
      o.push_back({z::kSteel, bt, {rect(-0.47f, -hw * 0.45f, xg, hw * 0.45f)}});  // tang
      for (int i = 0; i < 3; ++i)
        o.push_back(dome(z::kBrass, 2.f, -0.45f + (hl - 0.08f) * i / 2, 0, 0.012f, 0.012f, 8));
    }
    o.push_back({z::kSteel, 3.f, {rect(xg - 0.015f, -hw * 1.15f, xg + 0.02f, hw * 1.15f)}});
    if (kind < 0.12f) {  // dagger: symmetric, ridge down the middle
      o.push_back(
          {z::kSteel,
           bt,
           {{{xg, -bw / 2}, {0.3f, -bw * 0.35f}, {0.5f, 0}, {0.3f, bw * 0.35f}, {xg, bw / 2}}}});
      o.push_back({z::kSteel, bt * 0.6f, {stroke({{xg, 0}, {0.45f, 0}}, bw * 0.2f)}});
    } else {
      const float drop = r.uni(0.1f, 0.6f);
      o.push_back({z::kSteel,
                   bt,
                   {{{xg, -bw * 0.45f},
                     {0.3f, -bw * 0.45f},
                     {0.5f, -bw * 0.45f + bw * drop},
                     {0.4f, bw * 0.35f},
                     {0.22f, bw * 0.5f},
                     {xg, bw * 0.5f}}}});
      o.push_back({z::kSteel, bt * 0.5f, {stroke({{xg, -bw * 0.4f}, {0.3f, -bw * 0.4f}}, 0.01f)}});
    }
    scale(o, L);
  } else {  // folding knife: handle with liners and pivot, blade open at some angle
    const float L = r.uni(15.f, 22.f), hw = r.uni(0.045f, 0.06f), bw = r.uni(0.06f, 0.09f);
    const bool metal = r.chance(0.4f);
    o.push_back({metal ? z::kAluminium : z::kPlastic,
                 metal ? 1.2f : 2.f,
                 {rounded_rect(-0.5f, -hw, 0.f, hw, hw * 0.9f)}});
    o.push_back(
        {z::kSteel, 1.2f, {rounded_rect(-0.48f, -hw * 0.8f, -0.02f, hw * 0.8f, hw * 0.6f)}});
    o.push_back(
        {z::kSteel, 1.f, {stroke({{-0.4f, -hw * 1.1f}, {-0.1f, -hw * 1.1f}}, 0.02f)}});  // clip
    o.push_back(dome(z::kSteel, 3.f, -0.03f, 0, 0.022f, 0.022f, 10));
    Part blade{z::kSteel,
               bt,
               {{{-0.03f, -bw / 2},
                 {0.3f, -bw / 2},
                 {0.47f, -bw * 0.1f},
                 {0.4f, bw * 0.25f},
                 {0.15f, bw / 2},
                 {-0.03f, bw / 2}},
                ellipse(0.04f, 0, 0.015f, 0.015f, 8, true)}};
    const float open = r.chance(0.7f) ? r.uni(-0.15f, 0.15f) : r.uni(0.4f, 1.6f);
    rotate_part(blade, {-0.03f, 0}, open);
    o.push_back(blade);
    scale(o, L);
  }
  return o;
}

Object make_wrench(Rng& r) {
  Object o;
  const float sw = r.uni(0.045f, 0.07f), t = r.uni(3.5f, 5.5f);
  if (r.chance(0.65f)) {  // combination wrench
    o.push_back(
        {z::kSteel,
         t,
         {{{-0.38f, -sw * 0.6f}, {0.36f, -sw * 0.45f}, {0.36f, sw * 0.45f}, {-0.38f, sw * 0.6f}}}});
    o.push_back({z::kSteel, t * 0.4f, {rect(-0.3f, -sw * 0.2f, 0.28f, sw * 0.2f)}});  // I-beam web
    const float R = r.uni(0.09f, 0.12f), s = R * 0.45f, cx = 0.42f;
    const float a0 = std::asin(s / R) + 0.05f;
    Contour head;
    for (auto& v : arc(cx, 0, R, R, a0, 2 * kPi - a0, 14)) head.push_back(v);
    head.push_back({cx - 0.25f * R, -s});
    head.push_back({cx - 0.25f * R, s});
    Part hp{z::kSteel, t, {head}};
    rotate_part(hp, {cx, 0}, r.uni(0.15f, 0.35f));
    o.push_back(hp);
    const float R2 = r.uni(0.075f, 0.1f);
    o.push_back({z::kSteel, t, ring(-0.44f, 0, R2, R2, R2 * 0.4f, 14)});
  } else {  // adjustable wrench
    o.push_back({z::kSteel, t, {rounded_rect(-0.5f, -sw * 0.7f, 0.25f, sw * 0.7f, sw * 0.6f)}});
    o.push_back({z::kSteel, -t, {ellipse(-0.44f, 0, 0.025f, 0.025f, 10)}});  // hanging hole
    const float cx = 0.33f;
    Contour head;
    for (auto& v : arc(cx, 0, 0.16f, 0.13f, 0.6f, 2 * kPi - 0.9f, 14)) head.push_back(v);
    head.push_back({cx + 0.02f, -0.04f});
    head.push_back({cx + 0.02f, 0.05f});
    o.push_back({z::kSteel, t * 1.2f, {head}});
    o.push_back({z::kSteel, t, {rect(cx + 0.02f, -0.13f, cx + 0.16f, -0.05f)}});
    o.push_back(cyl_y(z::kSteel, t, cx - 0.09f, 0.05f, cx + 0.01f, 0.11f));  // worm screw
  }
  scale(o, r.uni(15.f, 30.f));
  return o;
}

Object make_pliers(Rng& r) {
  Object o;
  const float open = r.uni(0.05f, 0.35f), t = r.uni(4.f, 6.5f), hw = r.uni(0.045f, 0.06f);
  const bool grips = r.chance(0.75f);
  const float grip_z = r.chance(0.6f) ? z::kPvc : z::kRubber;
  for (int sgn = -1; sgn <= 1; sgn += 2) {
    const float s = float(sgn);
    Part handle{
        z::kSteel,
        t * 0.7f,
        {stroke({{-0.55f, s * 0.1f}, {-0.35f, s * 0.085f}, {-0.15f, s * 0.05f}, {0.0f, 0.0f}},
                hw)}};
    Part jaw{z::kSteel,
             t,
             {{{-0.04f, s * 0.04f},
               {0.16f, -s * 0.01f},
               {0.32f, -s * 0.004f},
               {0.32f, -s * 0.016f},
               {0.1f, -s * 0.05f},
               {-0.04f, -s * 0.03f}}}};
    Part grip{grip_z,
              2.5f,
              {stroke({{-0.56f, s * 0.1f}, {-0.35f, s * 0.087f}, {-0.2f, s * 0.062f}}, hw * 1.9f)}};
    rotate_part(handle, {0, 0}, s * open / 2);
    rotate_part(jaw, {0, 0}, s * open / 2);
    rotate_part(grip, {0, 0}, s * open / 2);
    o.push_back(handle);
    o.push_back(jaw);
    if (grips) o.push_back(grip);
  }
  o.push_back(dome(z::kSteel, t * 1.5f, 0, 0, 0.05f, 0.05f, 12));
  scale(o, r.uni(16.f, 25.f));
  return o;
}

Object make_scissors(Rng& r) {
  Object o;
  const float open = r.uni(0.08f, 0.6f), bl = r.uni(0.4f, 0.55f), t = r.uni(1.4f, 2.4f);
  const bool metal_loops = r.chance(0.25f);
  for (int sgn = -1; sgn <= 1; sgn += 2) {
    const float s = float(sgn);
    Part blade{z::kSteel,
               t,
               {{{-0.05f, -s * 0.035f},
                 {0.2f, -s * 0.03f},
                 {bl, s * 0.004f},
                 {0.18f, s * 0.022f},
                 {-0.05f, s * 0.03f}}}};
    Part shank{
        z::kSteel, t, {stroke({{-0.02f, 0}, {-0.14f, s * 0.05f}, {-0.22f, s * 0.08f}}, 0.035f)}};
    const float lx = r.uni(0.09f, 0.12f), ly = r.uni(0.06f, 0.08f);
    Part loop{metal_loops ? z::kSteel : z::kPlastic, metal_loops ? t : 3.f,
              ring(-0.3f, s * 0.1f, lx, ly, 0.035f, 16)};
    for (Part* p : {&blade, &shank, &loop}) rotate_part(*p, {0, 0}, -s * open / 2);
    o.push_back(blade);
    o.push_back(shank);
    o.push_back(loop);
  }
  o.push_back(dome(z::kSteel, 3.f, 0, 0, 0.025f, 0.025f, 10));
  scale(o, r.uni(14.f, 22.f));
  return o;
}

}  // namespace

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

// ---- hard negatives: benign metal things with a threat's outline features
// ------------------------
Object make_lookalike(Rng& r) {
  Object o;
  switch (r.randint(9)) {
    case 0:  // screwdriver (knife-like)
      o.push_back(cyl_x(z::kPlastic, 2.8f, -0.5f, -0.06f, -0.1f, 0.06f, 0.05f));
      o.push_back(cyl_x(z::kSteel, 4.f, -0.1f, -0.018f, 0.45f, 0.018f));
      o.push_back(
          {z::kSteel, 3.f, {{{0.45f, -0.018f}, {0.5f, -0.006f}, {0.5f, 0.006f}, {0.45f, 0.018f}}}});
      scale(o, r.uni(14.f, 25.f));
      break;
    case 1: {  // table knife, fork or spoon
      o.push_back({z::kSteel, 2.f, {stroke({{-0.5f, 0}, {0.05f, 0.01f}}, 0.06f)}});
      if (r.chance(0.5f))
        o.push_back({z::kSteel, 1.5f, {ellipse(0.25f, 0.01f, 0.2f, 0.07f, 16)}});
      else
        o.push_back({z::kSteel, 1.5f, {rounded_rect(0.05f, -0.04f, 0.5f, 0.035f, 0.03f)}});
      scale(o, r.uni(17.f, 22.f));
      break;
    }
    case 2: {  // glasses (scissors-loop-like)
      const float t = r.uni(1.f, 2.f);
      o.push_back({z::kSteel, t, ring(-0.2f, 0, 0.17f, 0.12f, 0.025f, 18)});
      o.push_back({z::kSteel, t, ring(0.2f, 0, 0.17f, 0.12f, 0.025f, 18)});
      o.push_back({z::kSteel,
                   t,
                   {stroke({{-0.37f, -0.05f}, {-0.55f, -0.1f}}, 0.02f),
                    stroke({{0.37f, -0.05f}, {0.55f, -0.1f}}, 0.02f)}});
      o.push_back(
          {z::kGlass, 0.6f, {ellipse(-0.2f, 0, 0.15f, 0.1f), ellipse(0.2f, 0, 0.15f, 0.1f)}});
      scale(o, r.uni(13.f, 15.f));
      break;
    }
    case 3: {  // tongs / tweezers / multi-tool (pliers-like)
      const float open = r.uni(0.02f, 0.25f);
      for (int sgn = -1; sgn <= 1; sgn += 2) {
        Part arm{z::kSteel, 1.6f, {stroke({{-0.5f, 0}, {0.5f, sgn * 0.02f}}, 0.06f)}};
        rotate_part(arm, {-0.5f, 0}, sgn * open / 2);
        o.push_back(arm);
      }
      scale(o, r.uni(12.f, 30.f));
      break;
    }
    case 4: {  // hair dryer / cordless drill (gun-like L shape)
      const bool drill = r.chance(0.5f);
      o.push_back(shell_x(z::kPlastic, 3.f, -0.5f, -0.14f, 0.3f, 0.06f, 0.25f));
      o.push_back(
          {z::kPlastic, 3.f, {{{0.05f, 0.0f}, {0.25f, 0.0f}, {0.28f, 0.45f}, {0.1f, 0.47f}}}});
      o.push_back(cyl_x(z::kCopper, 3.f, -0.05f, -0.11f, 0.15f, 0.03f));  // motor winding
      o.push_back(cyl_x(z::kSteel, 2.5f, -0.02f, -0.09f, 0.12f, 0.01f));
      if (drill) {
        o.push_back(cyl_x(z::kSteel, 5.f, -0.62f, -0.08f, -0.5f, 0.0f));  // chuck
        Object pack = cell(0.3f, 0.06f);
        o.push_back({z::kPlastic, 2.f, {rect(0.0f, 0.45f, 0.4f, 0.6f)}});
        place(o, pack, 0, {0.2f, 0.5f});
        place(o, cell(0.3f, 0.06f), 0, {0.2f, 0.56f});
      } else {
        for (int i = 0; i < 5; ++i)  // heating coil
          o.push_back(
              {z::kSteel, 1.2f, {ring(-0.4f + 0.04f * i, -0.04f, 0.02f, 0.08f, 0.008f, 10)}});
        wire(o, {{0.19f, 0.46f}, {0.2f, 0.7f}, {0.4f, 0.8f}, {0.6f, 0.75f}}, 0.02f);
      }
      scale(o, r.uni(20.f, 28.f));
      break;
    }
    case 5:  // bottle opener / key ring (wrench-like)
      o.push_back({z::kSteel, 2.5f, {rect(-0.3f, -0.05f, 0.3f, 0.05f)}});
      o.push_back({z::kSteel, 2.5f, ring(0.38f, 0, 0.1f, 0.1f, 0.04f, 14)});
      o.push_back({z::kSteel, 1.6f, ring(-0.4f, 0, 0.1f, 0.1f, 0.02f, 14)});
      scale(o, r.uni(9.f, 16.f));
      break;
    case 6:  // stapler
      o.push_back({z::kSteel, 2.f, {rounded_rect(-0.5f, -0.09f, 0.5f, 0.09f, 0.06f)}});
      o.push_back({z::kSteel, 1.2f, {rect(-0.45f, -0.04f, 0.4f, 0.04f)}});
      o.push_back({z::kPlastic, 2.f, {rounded_rect(-0.5f, -0.12f, 0.45f, 0.12f, 0.1f)}});
      scale(o, r.uni(13.f, 20.f));
      break;
    case 7: {  // umbrella handle and shaft (the hook reads as a grip)
      o.push_back(cyl_x(z::kSteel, 1.8f, -0.5f, -0.012f, 0.35f, 0.012f));
      o.push_back({z::kPlastic,
                   3.f,
                   {stroke(arc(0.45f, 0.06f, 0.08f, 0.08f, -kPi / 2, kPi / 2, 8), 0.05f)}});
      for (int i = 0; i < 6; ++i)
        o.push_back(
            {z::kSteel,
             1.f,
             {stroke({{-0.45f, r.uni(-0.04f, 0.04f)}, {0.3f, r.uni(-0.06f, 0.06f)}}, 0.008f)}});
      scale(o, r.uni(25.f, 45.f));
      break;
    }
    default:  // belt with buckle
      o.push_back({z::kFabric, 1.2f, {rect(-0.5f, -0.06f, 0.5f, 0.06f)}});
      o.push_back(
          {z::kSteel, 3.f, {rect(0.3f, -0.11f, 0.46f, 0.11f), rect(0.33f, 0.08f, 0.43f, -0.08f)}});
      scale(o, r.uni(25.f, 40.f));
      break;
  }
  return o;
}

// ---- everyday clutter (centimetres)
// ----------------------------------------------------------------
namespace {

Object clothes(Rng& r) {
  Object o;
  const float w = r.uni(15.f, 32.f), h = r.uni(10.f, 22.f);
  o.push_back({z::kFabric, r.uni(0.4f, 1.4f), {blob(r, w, h, 0.2f)}});
  const int folds = 6 + r.randint(12);
  for (int i = 0; i < folds; ++i) {  // folds, creases and seams: lines of doubled fabric
    V2 s{r.uni(-w, w) * 0.7f, r.uni(-h, h) * 0.7f};
    o.push_back({z::kFabric,
                 r.uni(0.2f, 0.7f),
                 {stroke(wander(r, s, r.uni(0, 2 * kPi), 6, w * 0.12f, 0.5f), r.uni(0.3f, 1.5f))}});
  }
  if (r.chance(0.35f))  // zip or buttons
    for (int i = 0; i < 6; ++i)
      o.push_back(dome(r.chance(0.5f) ? z::kPlastic : z::kBrass, 1.f, -w * 0.3f + w * 0.1f * i,
                       r.uni(-1.f, 1.f), 0.6f, 0.6f, 8));
  return o;
}

Object cable_coil(Rng& r) {
  Object o;
  const float R = r.uni(3.f, 9.f), d = r.uni(0.3f, 0.6f), ry = R * r.uni(0.5f, 1.f);
  const int loops = 3 + r.randint(8);
  for (int i = 0; i < loops; ++i) {
    float rr = R * r.uni(0.8f, 1.1f), dx = r.uni(-1.f, 1.f), dy = r.uni(-1.f, 1.f);
    wire(o, arc(dx, dy, rr, ry * rr / R, r.uni(0, 1), r.uni(5.5f, 6.3f), 16), d);
  }
  // tail with a plug or a charger brick
  auto tail = wander(r, {R, 0}, r.uni(-1, 1), 8, R * 0.5f, 0.6f);
  wire(o, tail, d);
  V2 e = tail.back();
  Object plug;
  plug.push_back({z::kPlastic, 2.f, {rounded_rect(-1.5f, -1.f, 1.5f, 1.f, 0.4f)}});
  plug.push_back({z::kBrass, 2.f, {rect(1.5f, -0.6f, 2.8f, -0.3f), rect(1.5f, 0.3f, 2.8f, 0.6f)}});
  place(o, plug, r.uni(0, 2 * kPi), e);
  return o;
}

Object loose_cable(Rng& r) {
  Object o;
  const float d = r.uni(0.25f, 0.5f);
  wire(o, wander(r, {0, 0}, r.uni(0, 2 * kPi), 10 + r.randint(14), r.uni(2.f, 4.f), 0.5f), d);
  return o;
}

// A printed circuit board with chips, capacitors, traces and connectors.
Object circuit_board(Rng& r, float w, float h) {
  Object o;
  o.push_back({z::kFr4, r.uni(0.3f, 0.6f), {rect(-w / 2, -h / 2, w / 2, h / 2)}});
  const int traces = 6 + r.randint(10);
  for (int i = 0; i < traces; ++i) {
    V2 s{r.uni(-w, w) * 0.45f, r.uni(-h, h) * 0.45f};
    std::vector<V2> p{s};
    for (int k = 0; k < 3; ++k) {  // Manhattan routing
      s = k % 2 ? V2{s.x, r.uni(-h, h) * 0.45f} : V2{r.uni(-w, w) * 0.45f, s.y};
      p.push_back(s);
    }
    o.push_back({z::kCopper, 0.3f, {stroke(p, r.uni(0.1f, 0.2f))}});
  }
  const int parts = 4 + r.randint(10);
  for (int i = 0; i < parts; ++i) {
    float x = r.uni(-w, w) * 0.4f, y = r.uni(-h, h) * 0.4f;
    switch (r.randint(4)) {
      case 0: {  // chip with lead frame
        float a = r.uni(0.8f, 3.f), b = r.uni(0.8f, 2.f);
        o.push_back({z::kSilicon, 0.8f, {rect(x, y, x + a, y + b)}});
        o.push_back(
            {z::kCopper, 0.6f, {rect(x + a * 0.2f, y + b * 0.2f, x + a * 0.8f, y + b * 0.8f)}});
        break;
      }
      case 1:  // electrolytic capacitor (aluminium can, seen end-on)
        o.push_back(dome(z::kAluminium, 1.5f, x, y, 0.5f, 0.5f, 10));
        break;
      case 2:  // connector / heat sink
        o.push_back(
            {z::kAluminium, 1.5f, {rect(x, y, x + r.uni(1.f, 3.f), y + r.uni(0.5f, 1.5f))}});
        break;
      default:  // screw
        o.push_back(dome(z::kSteel, 2.f, x, y, 0.3f, 0.3f, 8));
        break;
    }
  }
  return o;
}

Object laptop(Rng& r) {
  Object o;
  const float w = r.uni(28.f, 36.f), h = r.uni(20.f, 25.f);
  const bool alu = r.chance(0.5f);
  o.push_back({alu ? z::kAluminium : z::kPlastic,
               alu ? 0.5f : 1.2f,
               {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 1.f)}});
  o.push_back({z::kGlass, 0.4f, {rect(-w / 2 + 1, -h / 2 + 1, w / 2 - 1, h / 2 - 1)}});  // screen
  place(o, circuit_board(r, w * 0.5f, h * 0.35f), 0, {-w * 0.2f, -h * 0.25f});
  for (int i = 0; i < 3; ++i)  // battery pouch cells
    o.push_back(
        {z::kLithium,
         1.2f,
         {rect(-w * 0.45f + i * w * 0.3f, h * 0.15f, -w * 0.2f + i * w * 0.3f, h * 0.45f)}});
  o.push_back({z::kCopper, 1.f, {stroke({{w * 0.05f, -h * 0.3f}, {w * 0.3f, -h * 0.25f}}, 0.6f)}});
  o.push_back({z::kAluminium, 1.f, ring(w * 0.35f, -h * 0.2f, 2.5f, 2.5f, 0.5f, 14)});  // fan
  for (int i = 0; i < 10; ++i)  // keyboard rows
    o.push_back({z::kSteel,
                 0.25f,
                 {rect(-w * 0.4f, -h * 0.05f + i * 0.9f, w * 0.4f, i * 0.9f - h * 0.05f + 0.2f)}});
  for (float sx : {-1.f, 1.f})
    for (float sy : {-1.f, 1.f})
      o.push_back(dome(z::kSteel, 2.f, sx * w * 0.45f, sy * h * 0.44f, 0.3f, 0.3f, 8));
  return o;
}

Object electronics(Rng& r) {
  Object o;
  switch (r.randint(5)) {
    case 0: {  // phone / tablet
      const float w = r.chance(0.6f) ? r.uni(7.f, 8.f) : r.uni(16.f, 18.f),
                  h = w * r.uni(1.4f, 2.f);
      o.push_back({z::kAluminium, 0.6f, {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, w * 0.12f)}});
      o.push_back(
          {z::kGlass, 0.5f, {rect(-w / 2 + 0.3f, -h / 2 + 0.3f, w / 2 - 0.3f, h / 2 - 0.3f)}});
      o.push_back({z::kLithium, 1.2f, {rect(-w * 0.4f, -h * 0.1f, w * 0.4f, h * 0.4f)}});
      place(o, circuit_board(r, w * 0.8f, h * 0.3f), 0, {0, -h * 0.3f});
      break;
    }
    case 1: {  // charger brick with transformer and cable
      const float w = r.uni(4.f, 8.f), h = r.uni(3.f, 6.f);
      o.push_back({z::kPlastic, 2.5f, {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 0.6f)}});
      o.push_back({z::kSteel, 2.5f, {rect(-w * 0.2f, -h * 0.3f, w * 0.15f, h * 0.3f)}});
      o.push_back({z::kCopper, 2.f, {rect(-w * 0.1f, -h * 0.35f, w * 0.05f, h * 0.35f)}});
      place(o, circuit_board(r, w * 0.8f, h * 0.8f), 0, {0, 0});
      wire(o, wander(r, {w / 2, 0}, 0, 10, 3.f, 0.6f), 0.35f);
      break;
    }
    case 2: {  // power bank / battery pack: cells side by side
      const int n = 2 + r.randint(4);
      const float len = r.uni(6.5f, 7.f), d = 1.85f;
      o.push_back({z::kPlastic,
                   1.f,
                   {rounded_rect(-len / 2 - 0.5f, -n * d / 2 - 0.5f, len / 2 + 0.5f,
                                 n * d / 2 + 0.5f, 0.5f)}});
      for (int i = 0; i < n; ++i) place(o, cell(len, d), 0, {0, -n * d / 2 + d * (i + 0.5f)});
      break;
    }
    case 3: {  // loose AA batteries
      const int n = 1 + r.randint(4);
      for (int i = 0; i < n; ++i)
        place(o, cell(5.f, 1.4f), r.uni(-0.3f, 0.3f), {r.uni(-2.f, 2.f), i * 1.6f});
      break;
    }
    default: {  // router / hard drive / camera: a box with a board and a dense core
      const float w = r.uni(8.f, 18.f), h = r.uni(6.f, 14.f);
      o.push_back({z::kPlastic, 1.5f, {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 1.f)}});
      place(o, circuit_board(r, w * 0.85f, h * 0.8f), 0, {0, 0});
      if (r.chance(0.5f)) o.push_back(dome(z::kSteel, 3.f, w * 0.2f, 0, h * 0.25f, h * 0.25f, 16));
      break;
    }
  }
  return o;
}

Object bottle(Rng& r) {
  Object o;
  const float len = r.uni(12.f, 28.f), d = r.uni(4.f, 9.f);
  const bool glass = r.chance(0.3f), can = !glass && r.chance(0.25f);
  if (can) {
    o.push_back(shell_x(z::kAluminium, 0.9f, -len * 0.25f, -3.3f, len * 0.25f, 3.3f, 0.05f));
    o.push_back(cyl_x(z::kWater, 6.6f * r.uni(0.5f, 1.f), -len * 0.25f, -3.2f, len * 0.25f, 3.2f));
    return o;
  }
  o.push_back(shell_x(glass ? z::kGlass : z::kPlastic, glass ? 2.f : 0.5f, -len / 2, -d / 2,
                      len * 0.3f, d / 2, 0.1f));
  o.push_back({glass ? z::kGlass : z::kPlastic,
               glass ? 1.5f : 0.5f,
               {rect(len * 0.3f, -d * 0.2f, len / 2, d * 0.2f)}});
  o.push_back({z::kPlastic, 1.5f, {rect(len / 2 - 1.f, -d * 0.22f, len / 2, d * 0.22f)}});  // cap
  const float fill = r.uni(0.3f, 1.f);  // liquid: water, juice, shampoo, oil
  o.push_back(cyl_x(r.chance(0.8f) ? z::kWater : z::kFood, d * 0.95f, -len / 2 + 0.3f, -d * 0.45f,
                    -len / 2 + 0.3f + (len * 0.8f - 0.6f) * fill, d * 0.45f));
  return o;
}

Object book(Rng& r) {
  Object o;
  const float w = r.uni(13.f, 24.f), h = r.uni(18.f, 30.f), t = r.uni(1.f, 4.f);
  o.push_back({z::kPaper, t * 0.8f, {rect(-w / 2, -h / 2, w / 2, h / 2)}});
  o.push_back({z::kPaper, t * 0.3f, {rect(-w / 2, -h / 2, -w / 2 + 1.f, h / 2)}});  // spine
  if (r.chance(0.3f))
    o.push_back({z::kSteel, 0.6f, {rect(-w / 2 + 0.3f, -h / 2, -w / 2 + 0.6f, h / 2)}});
  return o;
}

Object shoe(Rng& r) {
  Object o;
  const float L = r.uni(24.f, 31.f);
  o.push_back({z::kRubber, r.uni(2.f, 3.5f), {blob(r, L / 2, L * 0.17f, 0.12f)}});  // sole
  o.push_back({z::kFabric, 1.f, {blob(r, L * 0.4f, L * 0.14f, 0.1f)}});             // upper
  o.push_back({z::kSteel, 1.5f, {rect(-L * 0.05f, -0.5f, L * 0.2f, 0.5f)}});        // shank
  for (int i = 0; i < 5; ++i)
    o.push_back(dome(z::kBrass, 1.5f, L * (0.05f + 0.05f * i), -L * 0.1f, 0.3f, 0.3f, 6));
  return o;
}

Object toiletries(Rng& r) {
  Object o;
  const int n = 2 + r.randint(4);
  for (int i = 0; i < n; ++i) {
    const float w = r.uni(3.f, 6.f), h = r.uni(8.f, 18.f);
    float x = r.uni(-8.f, 8.f), y = r.uni(-6.f, 6.f);
    if (r.chance(0.3f)) {  // aluminium tube (toothpaste)
      o.push_back({z::kAluminium, 0.5f, {rounded_rect(x, y, x + h, y + w, 0.5f)}});
      o.push_back(cyl_x(z::kFood, 1.5f, x, y, x + h * 0.8f, y + w));
    } else {
      o.push_back(cyl_y(z::kWater, w * 0.8f, x, y, x + w, y + h, 1.f));
    }
  }
  if (r.chance(0.5f)) o.push_back({z::kSteel, 1.f, {rect(-1.f, -8.f, -0.7f, 4.f)}});  // razor
  return o;
}

Object small_metal(Rng& r) {
  Object o;
  switch (r.randint(4)) {
    case 0:  // keys on a ring
      for (int i = 0; i < 2 + r.randint(3); ++i) {
        Part k{z::kBrass,
               1.6f,
               {{{0, -0.8f}, {5.f, -0.8f}, {5.5f, 0.f}, {5.f, 0.8f}, {0, 0.8f}},
                ellipse(-1.2f, 0, 1.4f, 1.4f, 10)}};
        rotate_part(k, {-3.f, 0}, r.uni(-0.8f, 0.8f));
        o.push_back(k);
      }
      o.push_back({z::kSteel, 1.5f, ring(-3.f, 0, 1.5f, 1.5f, 0.25f, 12)});
      break;
    case 1:  // coins
      for (int i = 0; i < 1 + r.randint(5); ++i)
        o.push_back(dome(z::kBrass, 1.8f, r.uni(-2.f, 2.f), r.uni(-2.f, 2.f), 1.2f, 1.2f, 12));
      break;
    case 2:  // pens
      for (int i = 0; i < 1 + r.randint(3); ++i) {
        float y = i * 1.2f;
        o.push_back(cyl_x(z::kPlastic, 1.f, -7.f, y - 0.5f, 7.f, y + 0.5f));
        o.push_back({z::kSteel, 1.2f, {rect(-3.f, y - 0.1f, 6.f, y + 0.1f)}});
        o.push_back({z::kBrass, 1.5f, {rect(6.f, y - 0.25f, 7.f, y + 0.25f)}});
      }
      break;
    default:  // watch / jewellery / lighter
      o.push_back({z::kSteel, 2.f, ring(0, 0, 2.f, 2.f, 0.6f, 14)});
      o.push_back({z::kFabric, 1.f, {rect(-1.f, 2.f, 1.f, 9.f), rect(-1.f, -9.f, 1.f, -2.f)}});
      break;
  }
  return o;
}

Object food(Rng& r) {
  Object o;
  const int n = 1 + r.randint(4);
  for (int i = 0; i < n; ++i) {
    const float rr = r.uni(3.f, 5.f);
    o.push_back(dome(z::kFood, rr * 1.6f, r.uni(-5.f, 5.f), r.uni(-5.f, 5.f), rr,
                     rr * r.uni(0.8f, 1.f), 16));
  }
  return o;
}

// A mug, jar or glass container (mixed material), maybe with something inside.
Object crockery(Rng& r) {
  Object o;
  const float d = r.uni(7.f, 10.f), len = r.uni(8.f, 12.f);
  o.push_back(shell_x(r.chance(0.5f) ? z::kCeramic : z::kGlass, 2.5f, -len / 2, -d / 2, len / 2,
                      d / 2, 0.12f));
  if (r.chance(0.5f))
    o.push_back(cyl_x(z::kFood, d * 0.8f, -len / 2 + 0.5f, -d * 0.4f, len / 2 - 0.5f, d * 0.4f));
  if (r.chance(0.6f))  // handle
    o.push_back({z::kCeramic, 2.f, {stroke(arc(0, d / 2, 2.5f, 2.5f, 0, kPi, 8), 0.8f)}});
  return o;
}

Object umbrella(Rng& r) {
  Object o;
  const float L = r.uni(25.f, 55.f);
  o.push_back({z::kFabric, 1.f, {rounded_rect(-L / 2, -2.5f, L / 2, 2.5f, 2.f)}});
  o.push_back(shell_x(z::kAluminium, 1.f, -L / 2, -0.6f, L / 2, 0.6f, 0.3f));
  for (int i = 0; i < 6; ++i)
    o.push_back({z::kSteel,
                 1.f,
                 {stroke({{-L * 0.45f, r.uni(-2.f, 2.f)}, {L * 0.4f, r.uni(-2.f, 2.f)}}, 0.2f)}});
  o.push_back(cyl_x(z::kPlastic, 3.f, L / 2, -1.5f, L / 2 + 6.f, 1.5f, 1.f));
  return o;
}

}  // namespace

Object make_clutter(Rng& r, bool large) {
  if (large) {
    const float u = r.uni();
    if (u < 0.25f) return clothes(r);
    if (u < 0.5f) return laptop(r);
    if (u < 0.6f) return book(r);
    if (u < 0.87f) {
      if (r.chance(0.5f)) return electronics(r);
      const float w = r.uni(10.f, 25.f);
      return circuit_board(r, w, w * r.uni(0.5f, 0.9f));
    }
    return shoe(r);
  }
  switch (r.randint(15)) {
    case 0:
    case 1:
    case 2:
      return cable_coil(r);
    case 3:
    case 4:
      return loose_cable(r);
    case 5:
    case 6:
    case 7:
      return electronics(r);
    case 8:
      return bottle(r);
    case 9:
      return toiletries(r);
    case 10:
      return small_metal(r);
    case 11:
      return r.chance(0.5f) ? food(r) : crockery(r);
    case 12:
      return umbrella(r);
    default:
      return clothes(r);
  }
}

Object make_bag(Rng& r, float w, float h) {
  Object o;
  const float kind = r.uni();
  const float rad = std::min(w, h) * r.uni(0.05f, 0.2f);
  if (kind < 0.5f) {  // hard suitcase: shell, rim, trolley rails, wheels
    o.push_back({z::kPlastic, r.uni(0.5f, 1.f), {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, rad)}});
    o.push_back(
        {z::kPlastic,
         r.uni(1.5f, 3.f),
         {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, rad),
          reversed(rounded_rect(-w / 2 + 1.5f, -h / 2 + 1.5f, w / 2 - 1.5f, h / 2 - 1.5f, rad))}});
    const bool along_x = w > h;
    const float L = along_x ? w : h, gap = r.uni(8.f, 16.f),
                off = r.uni(-0.3f, 0.3f) * (along_x ? h : w) * 0.5f;
    const bool steel_rails = r.chance(0.4f);
    for (int i = 0; i < 2; ++i) {  // telescopic handle: two aluminium or steel tubes
      float c = off + (i ? gap : -gap) / 2;
      const float rz = steel_rails ? z::kSteel : z::kAluminium, rm = steel_rails ? 1.5f : 3.f;
      if (along_x)
        o.push_back(shell_x(rz, rm, -L * 0.46f, c - 1.3f, L * 0.46f, c + 1.3f, 0.15f));
      else
        o.push_back(cyl_y(rz, rm, c - 1.3f, -L * 0.46f, c + 1.3f, L * 0.46f));
    }
    for (float sx : {-1.f, 1.f}) {  // wheels and their housings at one end
      V2 c = along_x ? V2{L * 0.44f, sx * h * 0.4f} : V2{sx * w * 0.4f, L * 0.44f};
      o.push_back(
          {z::kPlastic, 4.f, {rounded_rect(c.x - 3.f, c.y - 3.f, c.x + 3.f, c.y + 3.f, 1.f)}});
      o.push_back(dome(z::kSteel, 3.f, c.x, c.y, 0.8f, 0.8f, 10));
    }
    o.push_back({z::kSteel,
                 0.8f,
                 {stroke({{-w * 0.45f, -h / 2 + 2.5f}, {w * 0.45f, -h / 2 + 2.5f}}, 0.6f)}});
  } else {  // soft bag / backpack: fabric layers, seams, zips, straps with buckles
    // Nylon or canvas, or a PVC-coated fabric (chlorine raises the effective Z).
    const float fz = r.chance(0.6f) ? z::kFabric : z::kCoated;
    o.push_back({fz, r.uni(0.3f, 0.8f), {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, rad * 2)}});
    o.push_back(
        {fz,
         r.uni(0.8f, 1.6f),
         {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, rad * 2),
          reversed(rounded_rect(-w / 2 + 1.f, -h / 2 + 1.f, w / 2 - 1.f, h / 2 - 1.f, rad * 2))}});
    const int zips = 1 + r.randint(3);
    for (int i = 0; i < zips; ++i) {
      float y = r.uni(-0.45f, 0.45f) * h;
      o.push_back({z::kSteel,
                   r.uni(0.4f, 0.9f),
                   {stroke({{-w * 0.45f, y}, {w * 0.45f, y + r.uni(-2.f, 2.f)}}, 0.7f)}});
      o.push_back({z::kSteel, 2.f, {rect(w * 0.3f, y - 0.6f, w * 0.3f + 2.f, y + 0.6f)}});
    }
    if (r.chance(0.7f)) {  // straps / handles with buckles
      for (int i = 0; i < 2; ++i) {
        float x = (i ? 1 : -1) * w * r.uni(0.15f, 0.35f);
        auto path = wander(r, {x, -h / 2}, kPi / 2 + r.uni(-0.3f, 0.3f), 6, h * 0.15f, 0.3f);
        o.push_back({z::kFabric, 1.5f, {stroke(path, r.uni(2.5f, 4.f))}});
        o.push_back({r.chance(0.5f) ? z::kSteel : z::kPlastic, 2.f,
                     ring(path[3].x, path[3].y, 2.f, 1.5f, 0.4f, 10)});
      }
    }
    if (r.chance(0.4f))  // backpack frame sheet / stiffener
      o.push_back({z::kPlastic, 0.6f, {rect(-w * 0.4f, -h * 0.4f, w * 0.4f, h * 0.4f)}});
  }
  return o;
}

Object make_tray(Rng& r, float w, float h) {
  Object o;
  o.push_back({z::kPlastic, r.uni(0.4f, 0.8f), {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 3.f)}});
  o.push_back(
      {z::kPlastic,
       2.5f,
       {rounded_rect(-w / 2, -h / 2, w / 2, h / 2, 3.f),
        reversed(rounded_rect(-w / 2 + 1.2f, -h / 2 + 1.2f, w / 2 - 1.2f, h / 2 - 1.2f, 3.f))}});
  for (int i = 1; i < 4; ++i)  // ribs on the bottom
    o.push_back(
        {z::kPlastic,
         0.5f,
         {rect(-w * 0.45f, -h / 2 + h * i / 4 - 0.3f, w * 0.45f, -h / 2 + h * i / 4 + 0.3f)}});
  return o;
}

}  // namespace gbad::synth
