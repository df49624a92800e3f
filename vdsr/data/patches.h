#pragma once
// Training patches as the reference VDSR's MATLAB generate_train.m makes them (docs/data.md), written to
// HDF5 with bounded memory and a uniformly random order. No LibTorch here.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vdsr/image.h"

namespace vdsr::data {

namespace fs = std::filesystem;

// MATLAB flipdim(image, 1) flips the rows (upside down), flipdim(image, 2) the columns (mirror).
enum class Flip { Vertical, Horizontal, None };
std::string flip_name(Flip flip);
Flip parse_flip(const std::string& name);  // "vertical" | "horizontal" | "none"; throws vdsr::Error

struct GenerateOptions {
  fs::path images;  // folder of .png/.bmp/.jpg (sorted by name)
  fs::path out;
  std::vector<int> scales{2, 3, 4};
  std::vector<double> downsizes{1.0, 0.7, 0.5};
  std::vector<Flip> flips{Flip::Vertical, Flip::Horizontal, Flip::None};  // the reference's order
  std::vector<int> rotations{0, 90, 180, 270};                            // counter-clockwise
  int patch_size = 41;
  int stride = 41;
  std::uint64_t seed = 1;
  long long limit = 0;                 // 0: all patches; else stop after this many (in generation order)
  long long bucket_patches = 16384;    // patches per in-memory shuffle bucket: bounds memory
  int threads = 0;                     // image workers; 0: all cores
  const std::atomic<bool>* cancel = nullptr;  // set from a signal handler to stop cleanly
};

struct GenerateResult {
  long long patches = 0;
  int images = 0;       // in the folder
  int images_used = 0;  // fewer when --limit stopped early
  std::vector<std::string> used_names;  // the file names of the images the patches came from, in order
  int buckets = 0;
  double seconds = 0.0;
};


// --- the MATLAB steps, exposed for tests -----------------------------------------------------------
// Planar images hold integer values 0..255 for the uint8 steps.
Image flip_image(const Image& image, Flip flip);
Image rotate_ccw(const Image& image, int degrees);  // imrotate by a multiple of 90: exact (rot90)
// Y of MATLAB rgb2ycbcr on a uint8 image (imlincomb order, rounded half away from zero), divided by 255
// as im2double does.
Image luma_uint8_to_double(const Image& rgb);
// The augmented, downsized Y in [0, 1] for one (flip, rotation, downsize).
Image augmented_luma(const Image& rgb, Flip flip, int rotation, double downsize);

// Size after rotation and downsizing (ceil(size * downsize), as imresize).
void augmented_size(int height, int width, int rotation, double downsize, int* out_height, int* out_width);
// Patches of one augmented image at one scale: count along one dimension of length `length`.
long long patches_along(int length, int scale, int patch_size, int stride);
// All patches one image of the given size yields under `options`.
long long patches_for_image(int height, int width, const GenerateOptions& options);

// Appends the patches of label = modcrop(y, scale), input = imresize(imresize(label, 1/s), size) to
// `input` and `label` (row-major patch_size x patch_size floats each), tops and lefts at 0, stride, ...
void extract_patches(const Image& y, int scale, int patch_size, int stride, std::vector<float>& input,
                     std::vector<float>& label);

// The whole pipeline: images -> shuffled HDF5 file at options.out (written to a temp name, renamed at
// the end; temporaries are removed on success, error and cancel). Throws vdsr::Error for bad input.
GenerateResult generate(const GenerateOptions& options);

// Validates options (patch size, stride, scales, downsizes, rotations); throws vdsr::Error.
void validate(const GenerateOptions& options);

}  // namespace vdsr::data
