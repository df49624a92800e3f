#pragma once
// The SR evaluation protocol (../shared/README.md): modcrop, Y of rgb2ycbcr, MATLAB bicubic down and
// up, network on the bicubic Y, PSNR/SSIM on Y with a border shave equal to the scale.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vdsr/image.h"
#include "vdsr/inference.h"

namespace vdsr {

// The images of a dataset: `dataset` is a folder, or a name under the assets folder (Set5, Set14).
// Throws vdsr::Error listing the known names when neither exists, or when the folder has no images.
std::vector<std::filesystem::path> dataset_images(const std::string& dataset);

// Ground-truth Y (modcropped) and its bicubic reconstruction for one image and scale. Throws
// vdsr::Error naming the image when it is too small for the scale.
struct ScaledPair {
  Image ground_truth;  // Y, modcropped
  Image bicubic;       // Y, down then up with MATLAB bicubic
};
ScaledPair make_scaled_pair(const Image& rgb, int scale, const std::string& name);

struct ImageScore {
  std::string name;
  double bicubic_psnr = 0, psnr = 0, bicubic_ssim = 0, ssim = 0, seconds = 0;
};

struct ScaleScore {
  int scale = 0;
  std::vector<ImageScore> images;
  ImageScore mean() const;  // name "mean"
};

ScaleScore evaluate_scale(const Upscaler& upscaler, const std::vector<std::filesystem::path>& images, int scale);

// quality.<Dataset>.x<s> per the report contract.
nlohmann::json quality_json(const ScaleScore& score);

}  // namespace vdsr
