#pragma once
// Images in double precision, as the SR evaluation protocol needs them (MATLAB works in doubles and
// never rounds the bicubic input). No LibTorch here.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vdsr {

// Planar image: channel c, row y, column x lives at data[(c * height + y) * width + x].
// Pixel values are on the 0..255 scale.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<double> data;

  Image() = default;
  Image(int h, int w, int c, double fill = 0.0)
      : height(h), width(w), channels(c), data(static_cast<std::size_t>(h) * w * c, fill) {}

  double& at(int c, int y, int x) { return data[(static_cast<std::size_t>(c) * height + y) * width + x]; }
  double at(int c, int y, int x) const { return data[(static_cast<std::size_t>(c) * height + y) * width + x]; }
  std::size_t plane_size() const { return static_cast<std::size_t>(height) * width; }

  Image channel(int c) const;                                  // one channel as a 1-channel image
  static Image merge(const std::vector<Image>& planes);        // 1-channel images into one
  Image crop(int top, int left, int h, int w) const;
};

// Reads PNG/BMP/JPEG (anything OpenCV decodes) as RGB; grayscale files become R=G=B.
// Throws vdsr::Error naming the file when it cannot be read, or when its header declares more pixels than
// max_image_pixels() (checked before decoding: a small file can declare a huge image).
Image read_image(const std::filesystem::path& path);

// Width and height as a PNG (IHDR), JPEG (SOF) or BMP header declares them, read without decoding;
// nothing for other formats or a header too short to say.
struct ImageSize {
  long long width = 0, height = 0;
};
std::optional<ImageSize> read_image_size(const std::filesystem::path& path);

// The most pixels read_image() decodes: $VDSR_MAX_IMAGE_PIXELS, else 100 megapixels (2.4 GB as the
// double-precision RGB planes an Image holds).
long long max_image_pixels();

// Fails with a vdsr::Error naming `path` unless OpenCV can encode its extension (checked before any work).
void check_image_output(const std::filesystem::path& path);

// The PNG/BMP/JPEG files of a folder, sorted by name. Throws vdsr::Error naming the folder when it is
// missing or holds no images.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder);

// Writes a 1- or 3-channel image (values rounded and clipped to 0..255) atomically; format by extension.
void write_image(const std::filesystem::path& path, const Image& image);
// The same as PNG file bytes (for pages that embed pictures).
std::string encode_png(const Image& image);

// MATLAB rgb2ycbcr / ycbcr2rgb on the 0..255 scale, unrounded (Y in 16..235 for RGB in 0..255).
Image rgb2ycbcr(const Image& rgb);
Image ycbcr2rgb(const Image& ycbcr);

// Crops height and width down to multiples of `scale` (top-left kept), as MATLAB's modcrop.
Image modcrop(const Image& image, int scale);

// MATLAB imresize(..., 'bicubic'): cubic kernel a = -0.5, antialiased when shrinking, symmetric
// padding, each dimension resized separately (the one shrinking most first, as MATLAB does).
Image imresize(const Image& image, double scale);             // output size imresize_length
// MATLAB's output length for a scale: ceil(n * scale), guarded so that 510 * (1/3) gives 170.
int imresize_length(int n, double scale);
Image imresize(const Image& image, int out_height, int out_width);

// imresize of a uint8 image as MATLAB does it: every pass (rows, then columns) rounds half away from
// zero and clips to 0..255; scale 1 returns the input unchanged.
Image imresize_uint8(const Image& image, double scale);

// Values clipped to [lo, hi] (the model output is clipped to 0..255 before scoring).
Image clip(const Image& image, double lo = 0.0, double hi = 255.0);

// Side-by-side concatenation (same height and channel count) with a gap of `gap` pixels of `fill`.
Image hconcat(const std::vector<Image>& images, int gap = 0, double fill = 255.0);

}  // namespace vdsr
