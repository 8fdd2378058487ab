// Which samples of a split an epoch visits, in which order. All draws come from Philox with
// (seed, epoch), so a run is reproducible and independent of the standard library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/sixray.h"

namespace gbad {

enum class SamplerKind {
  Practical,               // every row of the split
  Ideal,                   // every positive + as many random negatives
  Negatives,               // num_negatives random negatives (the paper uses 50,000)
  PositivesPlusNegatives,  // every positive + num_negatives random negatives (SVM phase)
};
SamplerKind parse_sampler_kind(const std::string& s);  // practical|ideal|negatives|svm
const char* sampler_kind_name(SamplerKind k);

struct SamplerConfig {
  SamplerKind kind = SamplerKind::Practical;
  int64_t num_negatives = 50000;  // Negatives / PositivesPlusNegatives; capped at what exists
  bool fresh_negatives = true;    // draw the negatives anew each epoch, or once (epoch 0)
  bool shuffle = true;            // shuffle the order of each epoch
  uint64_t seed = 1;
};

// Indices into `samples` for one epoch.
std::vector<int64_t> sample_epoch(const std::vector<Sample>& samples, const SamplerConfig& cfg,
                                  int64_t epoch);

// Hard-negative selection (a gate-study option; the paper draws the Bi-GAN's negatives at
// random): from a pool of negatives with the phase-1 classifier's score of each (its highest
// class confidence), picks n: the round(hard_fraction * n) highest-scoring ones (ties: lower
// index first), then the rest uniformly at random from the remaining pool (Philox(seed)). So
// the Bi-GAN's model of "normal" includes the negatives the CNN would call threats.
// hard_fraction 0 = a uniform random draw; 1 = the top n. Returns indices into the pool.
std::vector<int64_t> select_hard_negatives(const std::vector<float>& pool_scores, int64_t n,
                                           double hard_fraction, uint64_t seed);

// Fisher-Yates with Philox(seed, stream): the same permutation on every platform.
void philox_shuffle(std::vector<int64_t>& v, uint64_t seed, uint64_t stream);

}  // namespace gbad
