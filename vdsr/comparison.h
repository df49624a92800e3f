#pragma once
// Pictures of the results: the same crop of one evaluation image as ground truth, bicubic and each
// model's output, each with its PSNR. A crop is upscaled as an image of its own (shrunk and enlarged by
// bicubic, then the network), so its PSNR is exactly what vdsr-eval reports for the crop saved as a file.
// The crop is given, or chosen where the models' full-image outputs differ most.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "vdsr/image.h"
#include "vdsr/inference.h"

namespace vdsr {

struct ComparedModel {
  std::string name;
  std::filesystem::path checkpoint;
};

struct CropOptions {
  int scale = 2;
  int size = 96;                        // side in ground-truth pixels; a multiple of the scale
  std::optional<int> left, top;         // both or neither; chosen automatically when absent
  Device device;
  InferenceOptions inference;
};

struct CropPicture {
  std::string label;                    // "ground truth", "bicubic" or the model's name
  std::optional<double> psnr;           // dB on Y with a border shave of the scale; none for the truth
  Image rgb;                            // size x size, colour
};

struct CropComparison {
  std::string image;                    // the image's file name
  int left = 0, top = 0, size = 0, scale = 0;
  bool automatic = false;               // chosen where the models differ most
  std::vector<CropPicture> pictures;    // ground truth, bicubic, then the models in order
};

// Throws vdsr::Error naming the image (or the option) when the crop does not fit or is too small.
CropComparison compare_crop(const std::filesystem::path& image, const std::vector<ComparedModel>& models,
                            const CropOptions& options);

// The top-left corner (left, top) of the size x size window of `score` (one channel) with the largest
// sum, searched on a grid of `step` pixels.
std::pair<int, int> busiest_window(const Image& score, int size, int step);

}  // namespace vdsr
