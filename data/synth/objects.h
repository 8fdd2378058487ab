// The synthetic generator's object library: threats, benign look-alikes (hard negatives),
// everyday clutter and bags. Every maker returns an Object in centimetres, centred near the
// origin, with each part's material (effective Z) and mass per area (g/cm^2) as a scanner
// would see them. Internal to data/synth*; the public interface is data/synth.h.
#pragma once

#include "data/synth/raster.h"

namespace gbad::synth {

// Threat class c (0 Gun, 1 Knife, 2 Wrench, 3 Pliers, 4 Scissors) at a realistic length.
Object make_threat(int cls, Rng& r);

// A benign metal object that resembles a threat (drill, stapler, table knife, tongs, ...).
Object make_lookalike(Rng& r);

// Everyday contents of a bag: clothes, cables, electronics, bottles, books, shoes, ...
// `large` selects the big flat items that fill a bag's bottom (clothes, laptops, books, boards).
Object make_clutter(Rng& r, bool large);

// A bag's shell (fabric or hard case, zips, handles, trolley rails, wheels) of w x h cm.
Object make_bag(Rng& r, float w, float h);

// A plastic tray (the kind loose items go through the scanner in) of w x h cm.
Object make_tray(Rng& r, float w, float h);

}  // namespace gbad::synth
