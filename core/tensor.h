// Tensor: a shape (up to 4-D, row-major, NCHW for images), a dtype, a device and a view into
// reference-counted storage. The storage itself (Buffer) is a move-only RAII owner of host or
// device memory. Copying a Tensor copies the handle (both alias the same memory, as views do);
// clone() makes a deep copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"

namespace gbad {

enum class Device { CPU, CUDA };
// F16 (IEEE binary16) and BF16 (bfloat16) hold 16-bit storage for mixed precision: created,
// copied, viewed, cast (kernels/amp.h amp_cast) and read back; the fp32 ops reject them.
enum class DType { F32, F16, BF16 };
// How a 4-D image tensor's values lie in memory. The shape is always the logical (N, C, H, W);
// NHWC (channels last) is the half-precision GPU path's activation layout (kernels/nhwc.h),
// only for F16/BF16 tensors: every fp32 op reads NCHW and rejects them by dtype.
enum class Layout { NCHW, NHWC };
const char* layout_name(Layout l);  // "nchw" | "nhwc"

const char* device_name(Device d);
Device parse_device(const std::string& s);  // "cpu" | "cuda"
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32" | "f16" | "bf16"

// Is a usable CUDA device present? False (never a crash) without a GPU or driver, with a driver
// older than the runtime, with a cuDNN built for another CUDA major version, or in a build
// without CUDA. The first call queries the runtime; later calls are cached (core/context.cpp).
bool cuda_available();
int cuda_device_count();  // 0 whenever !cuda_available()
// Why no GPU is usable, in words naming the versions involved; "" when cuda_available().
std::string cuda_unavailable_reason();

// Move-only owner of one allocation on the host or the device.
class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t bytes, Device device);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept;
  Buffer& operator=(Buffer&& o) noexcept;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Device device_ = Device::CPU;
};

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  static constexpr int kMaxDims = 4;

  Tensor() = default;
  // Allocates uninitialised storage. NHWC needs a 4-D shape and a 16-bit dtype.
  Tensor(const Shape& shape, Device device = Device::CPU, DType dtype = DType::F32,
         Layout layout = Layout::NCHW);
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape,
                            Device device = Device::CPU);

  // Shape
  int ndim() const { return static_cast<int>(shape_.size()); }
  const Shape& shape() const { return shape_; }
  int64_t size(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return numel_ == 0; }
  bool defined() const { return storage_ != nullptr; }
  // NCHW accessors for 4-D tensors.
  int64_t n() const { return size(0); }
  int64_t c() const { return size(1); }
  int64_t h() const { return size(2); }
  int64_t w() const { return size(3); }

  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  Layout layout() const { return layout_; }
  bool is_nhwc() const { return layout_ == Layout::NHWC; }
  bool is_cuda() const { return device_ == Device::CUDA; }

  float* f32();
  const float* f32() const;
  // The raw 16-bit patterns of an F16 or BF16 tensor (core/half.h converts them).
  uint16_t* u16();
  const uint16_t* u16() const;
  void* raw() const;

  // Makes this tensor hold `shape`, reallocating only when the storage is too small or on
  // another device. Contents are unspecified after a reallocation. Views cannot be resized.
  void resize(const Shape& shape, Device device);
  void resize(const Shape& shape) { resize(shape, device_); }
  // The same in a given dtype and layout: reallocates when either changes (views cannot).
  void resize(const Shape& shape, Device device, DType dtype, Layout layout);
  // resize(shape, like's device, dtype and layout): a layer's output that follows its input's
  // kind (f32 NCHW or half NHWC).
  void resize_like(const Shape& shape, const Tensor& like) {
    resize(shape, like.device(), like.dtype(), like.layout());
  }
  // Same storage, new shape with the same numel.
  Tensor reshape(const Shape& shape) const;
  // A view of `count` elements starting at element `offset`, with the given shape.
  Tensor view(int64_t offset, const Shape& shape) const;
  // Rows [begin, end) along dim 0.
  Tensor slice0(int64_t begin, int64_t end) const;

  Tensor clone() const;
  Tensor to(Device device) const;     // deep copy onto a device (a copy even when the same)
  void copy_from(const Tensor& src);  // same numel; any devices
  void fill(float value);
  void zero();
  // Host copy as floats in memory order (exact for F16/BF16; NHWC tensors give NHWC order),
  // and the reverse (rounded to nearest even into
  // F16/BF16 tensors).
  std::vector<float> to_vector() const;
  void set_from(const std::vector<float>& v);

  std::string str() const;  // "f32[2, 3, 4, 4] cpu", "bf16[8] cuda", "bf16[2, 3, 4, 4] nhwc cuda"

 private:
  std::shared_ptr<Buffer> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  int64_t numel_ = 0;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
  Layout layout_ = Layout::NCHW;
  bool is_view_ = false;
};

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

}  // namespace gbad
