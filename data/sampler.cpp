#include "data/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/philox.h"

namespace gbad {

SamplerKind parse_sampler_kind(const std::string& s) {
  if (s == "practical") return SamplerKind::Practical;
  if (s == "ideal") return SamplerKind::Ideal;
  if (s == "negatives") return SamplerKind::Negatives;
  if (s == "svm" || s == "positives+negatives") return SamplerKind::PositivesPlusNegatives;
  GBAD_FAIL("unknown sampler '", s, "' (expected practical, ideal, negatives or svm)");
}

const char* sampler_kind_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::Practical:
      return "practical";
    case SamplerKind::Ideal:
      return "ideal";
    case SamplerKind::Negatives:
      return "negatives";
    case SamplerKind::PositivesPlusNegatives:
      return "svm";
  }
  return "?";
}

void philox_shuffle(std::vector<int64_t>& v, uint64_t seed, uint64_t stream) {
  for (size_t i = v.size(); i > 1; --i) {
    U32x4 r = philox4x32(seed, i, stream);
    uint64_t x = (uint64_t(r.v[0]) << 32) | r.v[1];
    size_t j = static_cast<size_t>(x % i);
    std::swap(v[i - 1], v[j]);
  }
}

namespace {

// Distinct streams per purpose so the negative draw and the order do not correlate.
constexpr uint64_t kStreamDraw = 0x6472617700000000ull;
constexpr uint64_t kStreamOrder = 0x6f72646500000000ull;

}  // namespace

std::vector<int64_t> sample_epoch(const std::vector<Sample>& samples, const SamplerConfig& cfg,
                                  int64_t epoch) {
  GBAD_CHECK(epoch >= 0, "sample_epoch: negative epoch ", epoch);
  std::vector<int64_t> pos, neg, out;
  for (size_t i = 0; i < samples.size(); ++i)
    (samples[i].positive() ? pos : neg).push_back(static_cast<int64_t>(i));
  auto draw_negatives = [&](int64_t n) {
    n = std::min<int64_t>(n, static_cast<int64_t>(neg.size()));
    std::vector<int64_t> pool = neg;
    uint64_t draw_epoch = cfg.fresh_negatives ? static_cast<uint64_t>(epoch) : 0;
    philox_shuffle(pool, cfg.seed, kStreamDraw + draw_epoch);
    pool.resize(static_cast<size_t>(n));
    std::sort(pool.begin(), pool.end());
    return pool;
  };
  switch (cfg.kind) {
    case SamplerKind::Practical:
      for (size_t i = 0; i < samples.size(); ++i) out.push_back(static_cast<int64_t>(i));
      break;
    case SamplerKind::Ideal: {
      out = pos;
      auto n = draw_negatives(static_cast<int64_t>(pos.size()));
      out.insert(out.end(), n.begin(), n.end());
      break;
    }
    case SamplerKind::Negatives:
      GBAD_CHECK(cfg.num_negatives >= 0, "negative num_negatives ", cfg.num_negatives);
      out = draw_negatives(cfg.num_negatives);
      break;
    case SamplerKind::PositivesPlusNegatives: {
      GBAD_CHECK(cfg.num_negatives >= 0, "negative num_negatives ", cfg.num_negatives);
      out = pos;
      auto n = draw_negatives(cfg.num_negatives);
      out.insert(out.end(), n.begin(), n.end());
      break;
    }
  }
  if (cfg.shuffle) philox_shuffle(out, cfg.seed, kStreamOrder + static_cast<uint64_t>(epoch));
  return out;
}

std::vector<int64_t> select_hard_negatives(const std::vector<float>& pool_scores, int64_t n,
                                           double hard_fraction, uint64_t seed) {
  GBAD_CHECK(hard_fraction >= 0 && hard_fraction <= 1, "hard-negative fraction ", hard_fraction,
             " is outside [0, 1]");
  GBAD_CHECK(n >= 0, "select_hard_negatives: negative count ", n);
  const int64_t m = static_cast<int64_t>(pool_scores.size());
  n = std::min(n, m);
  std::vector<int64_t> order(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) order[size_t(i)] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return pool_scores[a] > pool_scores[b]; });
  const int64_t hard = std::min<int64_t>(n, std::llround(hard_fraction * double(n)));
  std::vector<int64_t> out(order.begin(), order.begin() + hard);
  std::vector<int64_t> rest(order.begin() + hard, order.end());
  std::sort(rest.begin(), rest.end());  // the random part does not depend on the scores' order
  philox_shuffle(rest, seed, kStreamDraw + 0x68617264ull);
  out.insert(out.end(), rest.begin(), rest.begin() + (n - hard));
  return out;
}

}  // namespace gbad
