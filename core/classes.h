// The five SIXray threat classes, in the order of the split CSVs' columns. Shared by the data
// readers, the models' heads and the metrics, so it lives at the bottom of the layer graph.
#pragma once

#include <array>

namespace gbad {

inline constexpr int kNumClasses = 5;
inline constexpr std::array<const char*, kNumClasses> kClassNames = {"Gun", "Knife", "Wrench",
                                                                     "Pliers", "Scissors"};

}  // namespace gbad
