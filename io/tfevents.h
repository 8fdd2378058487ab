// TensorBoard event files (events.out.tfevents.*), written by hand: no C++ library for the
// format is packaged, and the format is small. A file is a sequence of TFRecords:
//   uint64 length (little endian), uint32 masked CRC-32C of the length bytes,
//   `length` bytes of a serialised tensorflow.Event protobuf, uint32 masked CRC-32C of them.
// The first record holds Event{wall_time, file_version: "brain.Event:2"}; each scalar is an
// Event{wall_time, step, summary: Summary{value: [Value{tag, simple_value}]}}. TensorBoard's own
// reader (tensorboard.backend.event_processing) reads these files.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace gbad {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
uint32_t crc32c(const void* data, size_t bytes);
// TFRecord's mask: rotate right by 15 and add 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t bytes);

// One framed TFRecord around `payload`.
std::string tfrecord_frame(const std::string& payload);

// Serialised tensorflow.Event protobufs (wire format written field by field).
std::string tf_event_file_version(double wall_time);
std::string tf_event_scalars(double wall_time, int64_t step,
                             const std::vector<std::pair<std::string, float>>& scalars);

// Appends scalar events to `<dir>/events.out.tfevents.<seconds>.<host>.<pid>`. A new file per
// process (TensorBoard merges all event files of a directory), so a resumed run adds a file
// instead of rewriting one. Each add() is flushed: a killed run keeps what it logged.
class TfEventsWriter {
 public:
  explicit TfEventsWriter(const std::string& dir);
  ~TfEventsWriter();
  TfEventsWriter(const TfEventsWriter&) = delete;
  TfEventsWriter& operator=(const TfEventsWriter&) = delete;

  void add(int64_t step, const std::vector<std::pair<std::string, float>>& scalars);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace gbad
