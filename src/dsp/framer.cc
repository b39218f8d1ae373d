#include "dsp/framer.h"

#include <algorithm>

#include "base/check.h"

namespace aiot::dsp {

Framer::Framer(size_t frame_size, size_t hop)
    : frame_size_(frame_size),
      hop_(hop),
      ring_(std::make_unique<float[]>(frame_size)),
      frame_(std::make_unique<float[]>(frame_size)) {
  AIOT_CHECK(hop > 0 && hop <= frame_size, "framer hop %zu must be in (0, %zu]", hop, frame_size);
}

void Framer::Reset() {
  head_ = 0;
  filled_ = 0;
  since_frame_ = 0;
}

void Framer::Linearize() {
  // The ring is full, so head_ points at the oldest sample.
  float* out = std::copy(ring_.get() + head_, ring_.get() + frame_size_, frame_.get());
  std::copy(ring_.get(), ring_.get() + head_, out);
}

}  // namespace aiot::dsp
