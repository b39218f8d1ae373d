#pragma once

#include "sim/model_slots.h"

namespace aiot::sim {

// Loads .tflite models (float or int8) with aiot's runtime (src/ml). Features are taken from the
// reading by the names in the model's metadata: rotation, temperature, vibration, sound, and the
// spectral features rms, peak, crest, kurtosis, dominantHz, centroidHz, band_shaft, band_blade,
// band_mid, band_high (case-insensitive). A model without metadata gets the four reference
// features in the reference order. A model asking for a feature the device does not measure
// fails to load.
ModelLoader TfliteModelLoader();

}  // namespace aiot::sim
