#include "dist/grad_reducer.h"

#include <chrono>

#include "core/check.h"
#include "kernels/elementwise.h"

namespace gbad {

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
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace gbad
