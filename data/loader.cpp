#include "data/loader.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace gbad {

Loader::Loader(const std::vector<Sample>& samples, const LoaderConfig& cfg)
    : samples_(samples), cfg_(cfg) {
  GBAD_CHECK(cfg.batch > 0, "loader: batch must be positive, got ", cfg.batch);
  GBAD_CHECK(cfg.workers > 0, "loader: workers must be positive, got ", cfg.workers);
  GBAD_CHECK(cfg.prefetch > 0, "loader: prefetch must be positive, got ", cfg.prefetch);
  GBAD_CHECK(cfg.crop > 0, "loader: crop must be positive, got ", cfg.crop);
  GBAD_CHECK(!cfg.train_aug || cfg.resize >= cfg.crop, "loader: resize ", cfg.resize,
             " is smaller than crop ", cfg.crop);
  pre_.resize = cfg.resize;
  pre_.crop = cfg.crop;
  pre_.train = cfg.train_aug;
  pre_.flip = cfg.flip;
  GBAD_CHECK(cfg.shard_stride > 0 && cfg.shard_start >= 0 && cfg.shard_start < cfg.shard_stride,
             "loader: shard ", cfg.shard_start, " of stride ", cfg.shard_stride, " is not valid");
  if (!cfg.pack.empty()) {
    pack_ = Pack::open(cfg.pack);
    const int side = cfg.train_aug ? cfg.resize : cfg.crop;
    GBAD_CHECK(pack_->side() == side, "pack ", cfg.pack, " holds images resized to ", pack_->side(),
               "x", pack_->side(), "; this loader needs ", side, "x", side,
               cfg.train_aug ? " (the resize size)" : " (the input size)",
               ": write it again with gbad-pack --size ", side);
    pack_record_ = pack_->match(
        samples, "the split (" + std::to_string(samples.size()) + " images) given to the loader");
  }
  for (int i = 0; i < cfg.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Loader::cancel_epoch(std::unique_lock<std::mutex>& lock) {
  ++generation_;  // results of older generations are dropped by the workers
  num_batches_ = 0;
  next_claim_ = next_out_ = 0;
  ready_.clear();
  done_cv_.wait(lock, [this] { return in_flight_ == 0; });
}

void Loader::start_epoch(int64_t epoch, std::vector<int64_t> order) {
  for (int64_t i : order)
    GBAD_CHECK(i >= 0 && i < static_cast<int64_t>(samples_.size()), "loader: index ", i,
               " out of range for ", samples_.size(), " samples");
  if (cfg_.shard_stride > 1) {
    std::vector<int64_t> mine;
    for (size_t i = size_t(cfg_.shard_start); i < order.size(); i += size_t(cfg_.shard_stride))
      mine.push_back(order[i]);
    order = std::move(mine);
  }
  std::unique_lock<std::mutex> lock(mu_);
  cancel_epoch(lock);
  epoch_ = epoch;
  order_ = std::move(order);
  const int64_t n = static_cast<int64_t>(order_.size());
  num_batches_ = cfg_.drop_last ? n / cfg_.batch : (n + cfg_.batch - 1) / cfg_.batch;
  lock.unlock();
  work_cv_.notify_all();
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (next_out_ >= num_batches_) return false;
    const int64_t want = next_out_;
    done_cv_.wait(lock, [&] { return ready_.count(want) > 0; });
    Result r = std::move(ready_[want]);
    ready_.erase(want);
    ++next_out_;
    work_cv_.notify_all();
    if (r.error) std::rethrow_exception(r.error);
    if (r.batch.size() == 0) continue;  // every image of this batch was skipped
    out = std::move(r.batch);
    return true;
  }
}

std::vector<std::string> Loader::skipped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return skipped_;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] {
      return stop_ || (next_claim_ < num_batches_ && next_claim_ < next_out_ + cfg_.prefetch);
    });
    if (stop_) return;
    const int64_t b = next_claim_++;
    const uint64_t gen = generation_;
    const int64_t epoch = epoch_;
    // Copy the batch's slice of the order so the epoch can be replaced meanwhile.
    const int64_t begin = b * cfg_.batch;
    const int64_t end = std::min<int64_t>(begin + cfg_.batch, static_cast<int64_t>(order_.size()));
    std::vector<int64_t> idx(order_.begin() + begin, order_.begin() + end);
    ++in_flight_;
    lock.unlock();
    Result r = build(b, epoch, idx);
    lock.lock();
    --in_flight_;
    if (gen == generation_) ready_[b] = std::move(r);
    done_cv_.notify_all();
  }
}

Loader::Result Loader::build(int64_t /*b*/, int64_t epoch, const std::vector<int64_t>& idx) {
  Result r;
  try {
    const int64_t n = static_cast<int64_t>(idx.size());
    const int64_t c = cfg_.crop;
    const int64_t per = 3 * c * c;
    Batch& bt = r.batch;
    bt.images = Tensor({n, 3, c, c});
    bt.labels = Tensor({n, kNumClasses});
    bt.mask = Tensor({n, kNumClasses});
    float* img = bt.images.f32();
    float* lab = bt.labels.f32();
    float* msk = bt.mask.f32();
    int64_t k = 0;
    std::vector<std::string> skipped;
    for (int64_t i = 0; i < n; ++i) {
      const Sample& s = samples_[static_cast<size_t>(idx[i])];
      try {
        Augment a = draw_augment(pre_, cfg_.seed, static_cast<uint64_t>(epoch),
                                 static_cast<uint64_t>(idx[i]));
        if (pack_) {
          const int64_t rec = pack_record_[static_cast<size_t>(idx[i])];
          preprocess_resized(img + k * per, pack_->pixels(rec), pack_->side(), pre_, a);
        } else {
          preprocess_image(img + k * per, decode_image(s.path), pre_, a);
        }
      } catch (const Error& e) {
        if (!cfg_.skip_corrupt) throw;
        skipped.push_back(s.path + ": " + e.what());
        continue;
      }
      for (int j = 0; j < kNumClasses; ++j) {
        lab[k * kNumClasses + j] = s.labels[j] == 1 ? 1.f : 0.f;
        msk[k * kNumClasses + j] = s.labels[j] == 0 ? 0.f : 1.f;
      }
      bt.stems.push_back(s.stem);
      bt.indices.push_back(idx[i]);
      ++k;
    }
    if (k < n) {  // compact: fresh tensors of the surviving rows
      auto shrink = [k](Tensor& t) {
        Shape sh = t.shape();
        sh[0] = k;
        Tensor small(sh);
        if (k > 0) std::memcpy(small.f32(), t.f32(), small.nbytes());
        t = small;
      };
      shrink(bt.images);
      shrink(bt.labels);
      shrink(bt.mask);
      std::lock_guard<std::mutex> lock(mu_);
      skipped_.insert(skipped_.end(), skipped.begin(), skipped.end());
    }
  } catch (...) {
    r.error = std::current_exception();
  }
  return r;
}

}  // namespace gbad
