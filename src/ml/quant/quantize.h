#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/result.h"
#include "ml/tflite/graph.h"

namespace aiot::ml {

struct QuantizeOptions {
  // Symmetric int8 weights with one scale per tensor (TFLite Micro and Edge TPU friendly) or one
  // per output channel.
  bool per_channel = false;
};

// Post-training int8 quantization in TensorFlow Lite's scheme. The chain of FULLY_CONNECTED ops
// becomes int8 (activations per-tensor asymmetric with a zero point from calibration ranges,
// weights symmetric int8, biases int32 with scale input_scale * weight_scale); a QUANTIZE op is
// inserted before it and a DEQUANTIZE after it, so float pre-processing (normalisation) and the
// output activation (LOGISTIC / SOFTMAX) stay float and the model still takes and returns floats.
//
// `calibration` holds `rows` raw input rows (row-major, the model's input width). Metadata
// entries are copied; the caller updates "aiot_metadata" (quantization = "int8").
// Errors: errc::unsupported (no FULLY_CONNECTED chain, or ops the runtime cannot run) or
// errc::invalid_argument (already quantized, no calibration rows, non-finite ranges), with why.
Result<GraphSpec> QuantizeGraph(const GraphSpec& float_graph, const float* calibration, size_t rows,
                                const QuantizeOptions& options = {});

// TFLite's choice of (scale, zero point) for an int8 tensor covering [min, max] (widened to
// include 0).
void ChooseQuantParams(float min, float max, float* scale, int32_t* zero_point);

}  // namespace aiot::ml
