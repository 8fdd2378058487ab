// The synthetic generator's scanner: dual-energy transmission through the canvas's two basis
// maps (Beer-Lambert), detector blur, edge enhancement and noise, then the pseudo-colour that
// dual-energy baggage scanners show (hue from the low/high attenuation ratio, that is the
// effective atomic number; brightness from the total attenuation).
// Internal to data/synth*; the public interface is data/synth.h.
#pragma once

#include "data/image.h"
#include "data/synth/raster.h"

namespace gbad::synth {

// Mass attenuation (cm^2/g) at the low (~50 keV) and high (~100 keV) effective energies:
// mu(E, Z) = compton(E) + photo(E) * (Z/10)^3, fitted to NIST XCOM values of water and iron.
struct DualEnergy {
  static constexpr float kComptonLo = 0.186f, kPhotoLo = 0.1009f;
  static constexpr float kComptonHi = 0.166f, kPhotoHi = 0.0117f;
};

// Low/high attenuation ratio of a pure material of effective atomic number z (water 1.30,
// aluminium 2.1, iron 5.3); overlapping materials give ratios in between.
float dual_energy_ratio(float z);

// Renders the canvas as a scanner would. `noise` draws the detector noise.
Image render_xray(const Canvas& cv, Rng& noise);

}  // namespace gbad::synth
