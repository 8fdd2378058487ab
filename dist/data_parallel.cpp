#include "dist/data_parallel.h"

#include <cmath>

#include "core/check.h"
#include "dist/comm.h"

namespace gbad {

std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int64_t global_batch, int rank,
                                 int size) {
  GBAD_CHECK(size >= 1 && rank >= 0 && rank < size, "shard_order: rank ", rank, " of ", size);
  GBAD_CHECK(global_batch >= 1 && global_batch % size == 0, "the global batch (--batch ",
             global_batch, ") must be a multiple of the number of processes (", size, ")");
  const int64_t b = global_batch / size;
  const int64_t batches = static_cast<int64_t>(order.size()) / global_batch;
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(batches * b));
  for (int64_t s = 0; s < batches; ++s) {
    auto first = order.begin() + s * global_batch + rank * b;
    out.insert(out.end(), first, first + b);
  }
  return out;
}

DataParallel::DataParallel(const LaunchEnv& env, Context& ctx, const DataParallelOptions& opt)
    : ctx_(&ctx), opt_(opt) {
  GBAD_CHECK(opt.bucket_mb > 0, "--bucket-mb must be > 0");
  if (!env.launched()) return;  // one process: --sync-bn has nothing to synchronise
  const std::string why = data_parallel_unavailable_reason();
  GBAD_CHECK(why.empty() || env.size == 1, why, " (started as rank ", env.rank, " of ", env.size,
             " by ", env.launcher, ")");
  if (!why.empty()) return;  // one process under a launcher: run as a single process
  comm_ = make_communicator(opt.backend, ctx);
  GBAD_CHECK(comm_->rank() == env.rank && comm_->size() == env.size, "MPI says rank ",
             comm_->rank(), " of ", comm_->size(), " but the ", env.launcher, " launcher says ",
             env.rank, " of ", env.size);
  if (opt.sync_bn) ctx.set_bn_comm(comm_.get());
  if (!root()) devnull_ = std::fopen("/dev/null", "w");
}

DataParallel::~DataParallel() {
  if (ctx_->bn_comm() == comm_.get()) ctx_->set_bn_comm(nullptr);
  if (ctx_->grad_listener() == this) ctx_->set_grad_listener(nullptr);
  if (devnull_) std::fclose(devnull_);
}

void DataParallel::attach(Context& ctx, ParamStore& ps) {
  if (!comm_) return;
  comm_->broadcast(ctx, ps.params().f32(), ps.num_params(), ps.device(), 0);
  if (ps.num_buffer_elements() > 0)
    comm_->broadcast(ctx, ps.buffers().f32(), ps.num_buffer_elements(), ps.device(), 0);
  reducers_.emplace_back(&ps, std::make_unique<GradReducer>(
                                  ps, *comm_, static_cast<int64_t>(opt_.bucket_mb * 1048576.0)));
}

void DataParallel::begin_backward(Context& ctx) {
  if (!comm_ || !opt_.overlap) return;
  GBAD_CHECK(!reducers_.empty(), "DataParallel::begin_backward before attach");
  for (auto& r : reducers_) r.second->arm();
  ctx.set_grad_listener(this);
}

void DataParallel::grad_ready(Context& ctx, const ParamStore& ps, int ref) {
  for (auto& r : reducers_)
    if (r.first == &ps) r.second->grad_ready(ctx, ref);
}

void DataParallel::finish_or_reduce(Context& ctx, GradReducer& r) {
  if (r.armed())
    r.finish(ctx);
  else
    r.reduce(ctx);
  allreduce_s_ += r.last_seconds();
}

void DataParallel::average_gradients(Context& ctx) {
  if (!comm_) return;
  GBAD_CHECK(!reducers_.empty(), "DataParallel::average_gradients before attach");
  if (ctx.grad_listener() == this) ctx.set_grad_listener(nullptr);
  for (auto& r : reducers_) finish_or_reduce(ctx, *r.second);
}

void DataParallel::average_gradients(Context& ctx, ParamStore& ps) {
  if (!comm_) return;
  for (auto& r : reducers_)
    if (r.first == &ps) {
      finish_or_reduce(ctx, *r.second);
      bool armed = false;
      for (auto& o : reducers_) armed = armed || o.second->armed();
      if (!armed && ctx.grad_listener() == this) ctx.set_grad_listener(nullptr);
      return;
    }
  GBAD_FAIL("DataParallel::average_gradients: this ParamStore was never attached");
}

double DataParallel::take_allreduce_seconds() {
  const double s = allreduce_s_;
  allreduce_s_ = 0;
  return s;
}

void DataParallel::sum(std::vector<double>& values) {
  if (comm_ && !values.empty())
    comm_->allreduce_sum_host(values.data(), static_cast<int64_t>(values.size()));
}

double DataParallel::sum(double v) {
  std::vector<double> x{v};
  sum(x);
  return x[0];
}

int DataParallel::first_failed_rank(bool ok) {
  if (!comm_) return ok ? -1 : 0;
  std::vector<double> flags(static_cast<size_t>(size()), 0.0);
  flags[static_cast<size_t>(rank())] = ok ? 0.0 : 1.0;
  sum(flags);
  for (size_t r = 0; r < flags.size(); ++r)
    if (flags[r] != 0.0) return static_cast<int>(r);
  return -1;
}

DataParallel::CheckedMean DataParallel::mean_if_finite(double v) {
  const bool ok = std::isfinite(v);
  std::vector<double> x(static_cast<size_t>(size()) + 1, 0.0);
  x[0] = ok ? v : 0.0;
  x[static_cast<size_t>(rank()) + 1] = ok ? 0.0 : 1.0;
  sum(x);
  CheckedMean m;
  m.mean = x[0] / size();
  for (int r = 0; r < size(); ++r)
    if (x[static_cast<size_t>(r) + 1] != 0.0) {
      m.failed_rank = r;
      break;
    }
  return m;
}

FILE* DataParallel::progress_stream() const {
  return devnull_ ? devnull_ : stderr;
}

}  // namespace gbad
