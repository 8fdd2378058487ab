// A parallel batch loader: worker threads decode and augment whole batches ahead of the
// consumer into a bounded set of ready batches; the consumer receives them in order. The random
// choices of a sample come from Philox(seed, epoch, sample index), so the batches are the same
// whatever the thread count or timing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/image.h"
#include "data/pack.h"
#include "data/sixray.h"

namespace gbad {

struct LoaderConfig {
  int batch = 32;
  int workers = 2;
  int prefetch = 4;        // batches prepared ahead of the consumer (>= 1)
  bool train_aug = false;  // train: resize -> random crop -> random flip; test: resize to crop
  int resize = 256;
  int crop = 224;  // the output size in both modes
  bool flip = true;
  uint64_t seed = 1;
  bool drop_last = false;
  bool skip_corrupt = false;  // count and skip undecodable images instead of failing
  // Read pre-resized images from this pack (gbad-pack; data/pack.h) instead of decoding: it
  // must hold exactly the samples (checked when the loader is made) at the side the mode
  // resizes to (train: resize, test: crop). The batches equal the JPEG path's up to the uint8
  // rounding of the resized image.
  std::string pack;
  // Each epoch reads only the entries start, start + stride, ... of its order (a rank's shard:
  // rank r of R uses shard_start r, shard_stride R).
  int64_t shard_start = 0, shard_stride = 1;
};

// One batch on the host. images (N,3,crop,crop) normalised; labels (N,5) 1/0 targets;
// mask (N,5) 0 where the CSV label is 0 ("ignore"), else 1.
struct Batch {
  Tensor images, labels, mask;
  std::vector<std::string> stems;
  std::vector<int64_t> indices;  // into the sample vector
  int64_t size() const { return static_cast<int64_t>(stems.size()); }
};

class Loader {
 public:
  // `samples` must outlive the loader.
  Loader(const std::vector<Sample>& samples, const LoaderConfig& cfg);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins an epoch over `order` (indices into samples); abandons the previous epoch.
  void start_epoch(int64_t epoch, std::vector<int64_t> order);
  // The next batch of the epoch, false at its end. Rethrows a worker's error (a file that
  // cannot be decoded, named) unless skip_corrupt is set.
  bool next(Batch& b);

  int64_t num_batches() const { return num_batches_; }
  // "path: reason" for every image skipped so far (skip_corrupt).
  std::vector<std::string> skipped() const;
  const LoaderConfig& config() const { return cfg_; }

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  void worker_loop();
  Result build(int64_t b, int64_t epoch, const std::vector<int64_t>& order);
  void cancel_epoch(std::unique_lock<std::mutex>& lock);

  const std::vector<Sample>& samples_;
  LoaderConfig cfg_;
  Preprocess pre_;
  std::shared_ptr<const Pack> pack_;
  std::vector<int64_t> pack_record_;  // per sample (with a pack)
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t num_batches_ = 0;
  int64_t next_claim_ = 0;
  int64_t next_out_ = 0;
  int in_flight_ = 0;
  std::map<int64_t, Result> ready_;
  std::vector<std::string> skipped_;
};

}  // namespace gbad
