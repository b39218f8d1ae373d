#pragma once

#include <cstddef>
#include <memory>
#include <span>

namespace aiot::dsp {

// Cuts a continuous sample stream into frames of `frame_size` samples that start every `hop`
// samples (overlap = frame_size - hop; hop == frame_size means no overlap). Samples are kept in a
// ring buffer of frame_size; each complete frame is copied, oldest sample first, into one frame
// buffer and handed to the callback. Allocation happens once, in the constructor. Not thread-safe.
class Framer {
 public:
  // REQUIRES: 0 < hop <= frame_size (checked).
  Framer(size_t frame_size, size_t hop);

  // Appends samples; calls on_frame(std::span<const float>) for every frame they complete. The
  // span is valid only during the call.
  template <typename F>
  void Push(std::span<const float> samples, F&& on_frame) {
    for (float x : samples) {
      ring_[head_] = x;
      head_ = head_ + 1 == frame_size_ ? 0 : head_ + 1;
      if (filled_ < frame_size_) ++filled_;
      if (++since_frame_ >= hop_ && filled_ == frame_size_) {
        since_frame_ = 0;
        Linearize();
        on_frame(std::span<const float>(frame_.get(), frame_size_));
      }
    }
  }

  // Forgets buffered samples; the next frame needs frame_size new samples.
  void Reset();

  size_t frame_size() const { return frame_size_; }
  size_t hop() const { return hop_; }

 private:
  void Linearize();

  size_t frame_size_;
  size_t hop_;
  std::unique_ptr<float[]> ring_;
  std::unique_ptr<float[]> frame_;
  size_t head_ = 0;         // next write position == oldest sample once full
  size_t filled_ = 0;       // samples in the ring, up to frame_size_
  size_t since_frame_ = 0;  // samples pushed since the last frame (or the start)
};

}  // namespace aiot::dsp
