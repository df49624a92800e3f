#pragma once
// Checking that training data and a model agree: the model's gain over bicubic on the patches themselves.
#include <filesystem>

#include "vdsr/inference.h"

namespace vdsr::train {

// Pooled PSNR over patches of an HDF5 file: bicubic input vs label and model output vs label, both
// clipped to [0, 1], over the first `count` patches (0: all).
struct PatchScore {
  long long patches = 0;
  double input_psnr = 0, output_psnr = 0;
};
PatchScore evaluate_patches(const std::filesystem::path& model, const std::filesystem::path& data, long long count,
                            Device device, int batch_size = 64);

}  // namespace vdsr::train
