#include "data/stager.h"

#include <cstring>

#include "core/check.h"

namespace gbad {

struct BatchStager::Slot {
  DeviceBatch batch;
  Tensor dev;                           // images, labels and mask back to back (CUDA)
  HostBuffer host;                      // their page-locked staging copy (async)
  std::unique_ptr<CudaEvent> copied;    // the copy into dev has finished (async)
  std::unique_ptr<CudaEvent> consumed;  // the compute that read dev has finished (async)
  bool waited = false;                  // front() made the compute stream wait for `copied`
};

BatchStager::Mode parse_input_copy(const std::string& s) {
  if (s == "sync") return BatchStager::Mode::Sync;
  if (s == "async") return BatchStager::Mode::Async;
  GBAD_FAIL("--input-copy '", s, "': expected sync or async");
}

BatchStager::BatchStager(Context& ctx, Mode mode)
    : ctx_(ctx), async_(mode == Mode::Async && ctx.is_cuda()) {
  for (auto& s : slots_) {
    s = std::make_unique<Slot>();
    s->batch.slot = static_cast<int>(&s - slots_.data());
    if (async_) {
      s->copied = std::make_unique<CudaEvent>();
      s->consumed = std::make_unique<CudaEvent>();
    }
  }
  if (async_) copy_ = std::make_unique<CopyStream>();
}

BatchStager::~BatchStager() {
  // The copies in flight read the page-locked buffers freed below.
  if (async_)
    for (auto& s : slots_) s->copied->synchronize();
}

void BatchStager::stage(const Batch& b) {
  GBAD_CHECK(can_stage(), "BatchStager: both slots hold batches not yet released");
  for (const Tensor* t : {&b.images, &b.labels, &b.mask})
    GBAD_CHECK(t->defined() && t->device() == Device::CPU && t->dtype() == DType::F32,
               "BatchStager: a batch's tensors must be f32 on the host, got ", t->str());
  Slot& s = *slots_[static_cast<size_t>((head_ + count_) % 2)];
  DeviceBatch& d = s.batch;
  d.stems = b.stems;
  d.indices = b.indices;
  s.waited = false;
  ++count_;
  if (!ctx_.is_cuda()) {  // the host batch is the device batch: share its storage
    d.images = b.images;
    d.labels = b.labels;
    d.mask = b.mask;
    return;
  }
  const int64_t ni = b.images.numel(), nl = b.labels.numel(), nm = b.mask.numel();
  const int64_t total = ni + nl + nm;
  if (s.dev.numel() < total) {
    // The compute that read the old buffer and the copy out of the old staging must be done.
    if (async_) {
      s.consumed->synchronize();
      s.copied->synchronize();
    }
    s.dev = Tensor({total}, Device::CUDA);
    if (async_) s.host = HostBuffer(static_cast<size_t>(total) * sizeof(float), true);
  }
  d.images = s.dev.view(0, b.images.shape());
  d.labels = s.dev.view(ni, b.labels.shape());
  d.mask = s.dev.view(ni + nl, b.mask.shape());
  if (!async_) {
    d.images.copy_from(b.images);
    d.labels.copy_from(b.labels);
    d.mask.copy_from(b.mask);
    return;
  }
  // The staging buffer is free once the slot's previous copy out of it has finished.
  s.copied->synchronize();
  float* h = static_cast<float*>(s.host.data());
  std::memcpy(h, b.images.f32(), static_cast<size_t>(ni) * sizeof(float));
  std::memcpy(h + ni, b.labels.f32(), static_cast<size_t>(nl) * sizeof(float));
  std::memcpy(h + ni + nl, b.mask.f32(), static_cast<size_t>(nm) * sizeof(float));
  // The device buffer is free once the compute that read it (release()) has run.
  s.consumed->wait_on(copy_->get());
  copy_->copy_to_device(s.dev.raw(), h, static_cast<size_t>(total) * sizeof(float));
  s.copied->record(copy_->get());
}

const DeviceBatch& BatchStager::front() {
  GBAD_CHECK(!empty(), "BatchStager: front() with no batch staged");
  Slot& s = *slots_[static_cast<size_t>(head_)];
  if (async_ && !s.waited) {
    s.copied->wait_on(ctx_.stream());
    s.waited = true;
  }
  return s.batch;
}

void BatchStager::release() {
  GBAD_CHECK(!empty(), "BatchStager: release() with no batch staged");
  Slot& s = *slots_[static_cast<size_t>(head_)];
  GBAD_CHECK(!async_ || s.waited, "BatchStager: release() of a batch front() never returned");
  if (async_) s.consumed->record(ctx_.stream());
  // The CPU batch shares the loader's storage: drop the handles so it can be freed.
  if (!ctx_.is_cuda()) s.batch.images = s.batch.labels = s.batch.mask = Tensor();
  head_ = (head_ + 1) % 2;
  --count_;
}

size_t BatchStager::pinned_bytes() const {
  size_t n = 0;
  for (const auto& s : slots_) n += s->host.pinned() ? s->host.bytes() : 0;
  return n;
}

}  // namespace gbad
