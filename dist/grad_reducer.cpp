#include "dist/grad_reducer.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"
#include "kernels/elementwise.h"

namespace gbad {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GradReducer::GradReducer(ParamStore& ps, Communicator& comm, int64_t bucket_bytes)
    : ps_(&ps), comm_(&comm) {
  GBAD_CHECK(ps.finalized(), "GradReducer: the ParamStore is not finalised");
  GBAD_CHECK(bucket_bytes > 0, "GradReducer: bucket size ", bucket_bytes, " bytes");
  const auto& entries = ps.entries();
  Bucket cur;
  bool open = false;
  // Trainable entries are laid out in registration order, so the entries of a bucket taken in
  // reverse order are one contiguous range of the gradient buffer.
  for (int i = static_cast<int>(entries.size()) - 1; i >= 0; --i) {
    const ParamStore::Entry& e = entries[static_cast<size_t>(i)];
    if (!e.trainable || e.numel == 0) continue;
    if (!open) {
      cur = Bucket{e.offset, e.offset + e.numel, i, i};
      open = true;
    } else {
      GBAD_CHECK(e.offset + e.numel == cur.begin, "GradReducer: parameter '", e.name,
                 "' is not contiguous with the next one in the gradient buffer");
      cur.begin = e.offset;
      cur.first_entry = i;
    }
    if ((cur.end - cur.begin) * int64_t(sizeof(float)) >= bucket_bytes) {
      buckets_.push_back(cur);
      open = false;
    }
  }
  if (open) buckets_.push_back(cur);
  bucket_of_.assign(entries.size(), -1);
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (int e = buckets_[b].first_entry; e <= buckets_[b].last_entry; ++e)
      if (entries[static_cast<size_t>(e)].trainable && entries[static_cast<size_t>(e)].numel > 0)
        bucket_of_[static_cast<size_t>(e)] = static_cast<int>(b);
}

void GradReducer::reduce_bucket(Context& ctx, size_t i) {
  const Bucket& b = buckets_.at(i);
  Tensor g = ps_->grads().view(b.begin, {b.end - b.begin});
  comm_->allreduce_sum(ctx, g.f32(), g.numel(), g.device());
  scale_inplace(ctx, g, 1.f / static_cast<float>(comm_->size()));
}

void GradReducer::reduce(Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  if (comm_->size() > 1)
    for (size_t i = 0; i < buckets_.size(); ++i) reduce_bucket(ctx, i);
  last_seconds_ = seconds_since(t0);
}

void GradReducer::arm() {
  GBAD_CHECK(!armed_, "GradReducer::arm: the previous step was not finished");
  pending_.assign(buckets_.size(), 0);
  for (size_t e = 0; e < bucket_of_.size(); ++e)
    if (bucket_of_[e] >= 0) ++pending_[static_cast<size_t>(bucket_of_[e])];
  reported_.assign(bucket_of_.size(), 0);
  next_ = 0;
  last_seconds_ = 0;
  armed_ = true;
}

void GradReducer::grad_ready(Context& ctx, ParamStore::Ref r) {
  if (!armed_) return;
  const size_t e = static_cast<size_t>(r);
  GBAD_CHECK(e < bucket_of_.size(), "GradReducer::grad_ready: no entry ", r);
  const int b = bucket_of_[e];
  if (b < 0) return;  // not trainable
  if (reported_[e]) {
    GBAD_CHECK(static_cast<size_t>(b) >= next_, "GradReducer: the gradient of '",
               ps_->entry(r).name,
               "' was written again after its bucket's all-reduce started (a layer run twice in "
               "one backward); reduce the gradients after backward for this model");
    return;
  }
  reported_[e] = 1;
  if (--pending_[static_cast<size_t>(b)] == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    start_ready(ctx);
    last_seconds_ += seconds_since(t0);
  } else if (next_ > 0) {
    comm_->progress();
  }
}

void GradReducer::start_ready(Context& ctx) {
  for (; next_ < buckets_.size() && pending_[next_] == 0; ++next_) {
    const Bucket& b = buckets_[next_];
    comm_->allreduce_sum_start(ctx, ps_->grads().f32() + b.begin, b.end - b.begin, ps_->device());
  }
}

void GradReducer::finish(Context& ctx) {
  GBAD_CHECK(armed_, "GradReducer::finish without arm");
  const auto t0 = std::chrono::steady_clock::now();
  // Buckets with a parameter that got no gradient this step (it stays zero) start now, in order.
  std::fill(pending_.begin(), pending_.end(), 0);
  start_ready(ctx);
  comm_->wait_all(ctx);
  for (const Bucket& b : buckets_) {
    Tensor g = ps_->grads().view(b.begin, {b.end - b.begin});
    scale_inplace(ctx, g, 1.f / static_cast<float>(comm_->size()));
  }
  armed_ = false;
  last_seconds_ += seconds_since(t0);
}

}  // namespace gbad
