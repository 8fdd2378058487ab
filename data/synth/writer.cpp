// The dataset writer: labels of the positives, images rendered in parallel and written as
// JPEGs, and the split CSVs of every subset, in the SIXray release's layout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "data/synth.h"
#include "data/synth/raster.h"

namespace fs = std::filesystem;

namespace gbad {

using synth::Rng;

namespace {
// Class weights among positives (facts.md: Gun 3100, Knife 1900, Wrench 2200, Pliers 4000,
// Scissors 1000).
constexpr float kClassWeight[kNumClasses] = {3100, 1900, 2200, 4000, 1000};
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
  GBAD_CHECK(cfg.density > 0 && cfg.density <= 4, "gbad-synth: density must be in (0, 4], got ",
             cfg.density);
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
        Image img = render_scan(cfg.seed, static_cast<uint64_t>(id), labels[id], w, h,
                                cfg.difficulty, cfg.density);
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
