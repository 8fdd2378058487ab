#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#include "core/cuda_graph.h"
#include "core/half.h"

#ifdef GBAD_WITH_CUDA
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#endif

namespace gbad {

#ifdef GBAD_WITH_CUDA
void cuda_fill_f32(float* p, int64_t n, float value, CUstream_st* stream);  // tensor_cuda.cu
#endif

const char* device_name(Device d) {
  return d == Device::CUDA ? "cuda" : "cpu";
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda" || s == "gpu") return Device::CUDA;
  GBAD_FAIL("unknown device '", s, "' (expected cpu or cuda)");
}

size_t dtype_size(DType t) {
  return t == DType::F32 ? 4 : 2;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
  }
  return "?";
}

// cuda_device_count() and cuda_available() live in core/context.cpp with the reasons.

// ---- Buffer --------------------------------------------------------------------------------

Buffer::Buffer(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    // 64-byte alignment for vector loads; aligned_alloc wants a multiple of the alignment.
    size_t rounded = (bytes + 63) / 64 * 64;
    ptr_ = std::aligned_alloc(64, rounded);
    GBAD_CHECK(ptr_ != nullptr, "out of host memory allocating ", bytes, " bytes");
  } else {
#ifdef GBAD_WITH_CUDA
    GBAD_CHECK(cuda_available(),
               "a CUDA tensor was requested but no GPU is usable: ", cuda_unavailable_reason());
    CUDA_CHECK(cudaMalloc(&ptr_, bytes));
#else
    GBAD_FAIL("a CUDA tensor was requested but gbad was built without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
}

Buffer::~Buffer() {
  release();
}

Buffer::Buffer(Buffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_), device_(o.device_) {
  o.ptr_ = nullptr;
  o.bytes_ = 0;
}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    release();
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    device_ = o.device_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void Buffer::release() noexcept {
  if (!ptr_) return;
  if (device_ == Device::CPU) {
    std::free(ptr_);
  } else {
#ifdef GBAD_WITH_CUDA
    cudaFree(ptr_);  // never throw from a destructor
#endif
  }
  ptr_ = nullptr;
  bytes_ = 0;
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef GBAD_WITH_CUDA
  cudaMemcpyKind kind = dst_dev == Device::CPU   ? cudaMemcpyDeviceToHost
                        : src_dev == Device::CPU ? cudaMemcpyHostToDevice
                                                 : cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDeviceToDevice)  // on this thread's tensor stream: capturable
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, tensor_stream()));
  else
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
#else
  GBAD_FAIL("device copy requested in a build without CUDA");
#endif
}

// ---- Tensor --------------------------------------------------------------------------------

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    GBAD_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
    n *= d;
  }
  return n;
}

static void check_shape(const Shape& s) {
  GBAD_CHECK(s.size() <= static_cast<size_t>(Tensor::kMaxDims), "shape ", shape_str(s),
             " has more than ", Tensor::kMaxDims, " dimensions");
}

const char* layout_name(Layout l) {
  return l == Layout::NHWC ? "nhwc" : "nchw";
}

Tensor::Tensor(const Shape& shape, Device device, DType dtype, Layout layout)
    : shape_(shape), device_(device), dtype_(dtype), layout_(layout) {
  check_shape(shape);
  GBAD_CHECK(layout == Layout::NCHW || (shape.size() == 4 && dtype != DType::F32),
             "an NHWC tensor is 4-D f16/bf16, not ", dtype_name(dtype), shape_str(shape));
  numel_ = shape_numel(shape);
  storage_ = std::make_shared<Buffer>(nbytes(), device);
}

Tensor Tensor::zeros(const Shape& shape, Device device) {
  Tensor t(shape, device);
  t.zero();
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, Device device) {
  Tensor t(shape, device);
  t.set_from(v);
  return t;
}

int64_t Tensor::size(int i) const {
  int nd = ndim();
  if (i < 0) i += nd;
  GBAD_CHECK(i >= 0 && i < nd, "dimension ", i, " out of range for tensor ", str());
  return shape_[i];
}

float* Tensor::f32() {
  GBAD_CHECK(dtype_ == DType::F32, "tensor is not float32");
  return storage_ ? static_cast<float*>(storage_->data()) + offset_ : nullptr;
}

const float* Tensor::f32() const {
  GBAD_CHECK(dtype_ == DType::F32, "tensor is not float32");
  return storage_ ? static_cast<const float*>(storage_->data()) + offset_ : nullptr;
}

uint16_t* Tensor::u16() {
  GBAD_CHECK(dtype_ != DType::F32, "tensor ", str(), " is not f16 or bf16");
  return storage_ ? static_cast<uint16_t*>(storage_->data()) + offset_ : nullptr;
}

const uint16_t* Tensor::u16() const {
  GBAD_CHECK(dtype_ != DType::F32, "tensor ", str(), " is not f16 or bf16");
  return storage_ ? static_cast<const uint16_t*>(storage_->data()) + offset_ : nullptr;
}

void* Tensor::raw() const {
  return storage_ ? static_cast<char*>(storage_->data()) + offset_ * dtype_size(dtype_) : nullptr;
}

void Tensor::resize(const Shape& shape, Device device) {
  check_shape(shape);
  int64_t n = shape_numel(shape);
  size_t need = static_cast<size_t>(n) * dtype_size(dtype_);
  if (storage_ && storage_->device() == device && storage_->bytes() >= need &&
      (shape == shape_ || !is_view_)) {
    if (is_view_) GBAD_CHECK(n == numel_, "cannot resize a view");
    shape_ = shape;
    numel_ = n;
    device_ = device;
    return;
  }
  GBAD_CHECK(!is_view_, "cannot resize a view (", str(), ") to ", shape_str(shape));
  storage_ = std::make_shared<Buffer>(need, device);
  offset_ = 0;
  shape_ = shape;
  numel_ = n;
  device_ = device;
}

void Tensor::resize(const Shape& shape, Device device, DType dtype, Layout layout) {
  if (storage_ && dtype_ == dtype && layout_ == layout) return resize(shape, device);
  GBAD_CHECK(!is_view_, "cannot change the dtype or layout of a view (", str(), ") to ",
             dtype_name(dtype), " ", layout_name(layout));
  *this = Tensor(shape, device, dtype, layout);
}

Tensor Tensor::reshape(const Shape& shape) const {
  check_shape(shape);
  GBAD_CHECK(layout_ == Layout::NCHW || shape == shape_, "cannot reshape the NHWC tensor ", str(),
             " to ", shape_str(shape));
  GBAD_CHECK(shape_numel(shape) == numel_, "cannot reshape ", str(), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  check_shape(shape);
  // NHWC memory is image-major too: a view of whole images keeps the layout.
  GBAD_CHECK(layout_ == Layout::NCHW ||
                 (shape.size() == 4 && shape[1] == shape_[1] && shape[2] == shape_[2] &&
                  shape[3] == shape_[3] && offset % (shape_[1] * shape_[2] * shape_[3]) == 0),
             "a view into the NHWC tensor ", str(), " must be whole images");
  int64_t n = shape_numel(shape);
  GBAD_CHECK(offset >= 0 && offset + n <= numel_, "view [", offset, ", ", offset + n,
             ") out of range for ", str());
  Tensor t = *this;
  t.offset_ = offset_ + offset;
  t.shape_ = shape;
  t.numel_ = n;
  t.is_view_ = true;
  return t;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  GBAD_CHECK(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice0(", begin, ", ",
             end, ") out of range for ", str());
  Shape s = shape_;
  int64_t row = s[0] ? numel_ / s[0] : 0;
  s[0] = end - begin;
  return view(begin * row, s);
}

Tensor Tensor::clone() const {
  return to(device_);
}

Tensor Tensor::to(Device device) const {
  Tensor t(shape_, device, dtype_, layout_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  GBAD_CHECK(src.numel() == numel_ && src.dtype_ == dtype_, "copy_from: ", src.str(), " into ",
             str(), " (a change of dtype is a cast: kernels/amp.h amp_cast)");
  GBAD_CHECK(src.layout_ == layout_, "copy_from: ", src.str(), " into ", str(),
             " (a change of layout is a conversion: kernels/nhwc.h)");
  copy_bytes(raw(), device_, src.raw(), src.device_, nbytes());
}

void Tensor::fill(float value) {
  if (numel_ == 0) return;
  if (dtype_ != DType::F32) {
    GBAD_CHECK(value == 0.f, "fill(", value, ") of ", str(), ": only zero; cast an f32 tensor");
    zero();
    return;
  }
  if (device_ == Device::CPU) {
    float* p = f32();
    for (int64_t i = 0; i < numel_; ++i) p[i] = value;
  } else {
#ifdef GBAD_WITH_CUDA
    cuda_fill_f32(f32(), numel_, value, tensor_stream());
#endif
  }
}

void Tensor::zero() {
  if (numel_ == 0) return;
  if (device_ == Device::CPU) {
    std::memset(raw(), 0, nbytes());
  } else {
#ifdef GBAD_WITH_CUDA
    CUDA_CHECK(cudaMemsetAsync(raw(), 0, nbytes(), tensor_stream()));
#endif
  }
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel_));
  if (dtype_ == DType::F32) {
    copy_bytes(v.data(), Device::CPU, raw(), device_, nbytes());
    return v;
  }
  std::vector<uint16_t> h(static_cast<size_t>(numel_));
  copy_bytes(h.data(), Device::CPU, raw(), device_, nbytes());
  for (size_t i = 0; i < h.size(); ++i)
    v[i] = dtype_ == DType::F16 ? f16_bits_to_float(h[i]) : bf16_bits_to_float(h[i]);
  return v;
}

void Tensor::set_from(const std::vector<float>& v) {
  GBAD_CHECK(static_cast<int64_t>(v.size()) == numel_, "set_from: ", v.size(),
             " values for tensor ", str());
  if (dtype_ == DType::F32) {
    copy_bytes(raw(), device_, v.data(), Device::CPU, nbytes());
    return;
  }
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = dtype_ == DType::F16 ? float_to_f16_bits(v[i]) : float_to_bf16_bits(v[i]);
  copy_bytes(raw(), device_, h.data(), Device::CPU, nbytes());
}

std::string Tensor::str() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " +
         (layout_ == Layout::NHWC ? "nhwc " : "") + device_name(device_);
}

}  // namespace gbad
