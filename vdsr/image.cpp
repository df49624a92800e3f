#include "vdsr/image.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

namespace vdsr {

Image Image::channel(int c) const {
  Image out(height, width, 1);
  std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(c * plane_size()), plane_size(), out.data.begin());
  return out;
}

Image Image::merge(const std::vector<Image>& planes) {
  Image out(planes.at(0).height, planes.at(0).width, static_cast<int>(planes.size()));
  for (std::size_t c = 0; c < planes.size(); ++c) {
    if (planes[c].height != out.height || planes[c].width != out.width || planes[c].channels != 1) {
      throw std::invalid_argument("Image::merge: planes differ in size");
    }
    std::copy(planes[c].data.begin(), planes[c].data.end(),
              out.data.begin() + static_cast<std::ptrdiff_t>(c * out.plane_size()));
  }
  return out;
}

Image Image::crop(int top, int left, int h, int w) const {
  if (top < 0 || left < 0 || h < 0 || w < 0 || top + h > height || left + w > width) {
    throw std::out_of_range("Image::crop outside the image");
  }
  Image out(h, w, channels);
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) out.at(c, y, x) = at(c, top + y, left + x);
  return out;
}

namespace {

long long big_endian(const unsigned char* p, int n) {
  long long v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

long long little_endian(const unsigned char* p, int n) {
  long long v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Walks the JPEG markers up to the first start-of-frame, skipping each segment by its length.
std::optional<ImageSize> jpeg_size(std::istream& in) {
  for (;;) {
    int c = in.get();
    if (c != 0xFF) return std::nullopt;
    while (c == 0xFF) c = in.get();  // fill bytes
    if (c == EOF) return std::nullopt;
    if (c == 0xD8 || c == 0x01 || (c >= 0xD0 && c <= 0xD7)) continue;  // markers without a segment
    if (c == 0xD9 || c == 0xDA) return std::nullopt;                   // end of image, start of scan
    unsigned char b[7];
    if (!in.read(reinterpret_cast<char*>(b), 2)) return std::nullopt;
    const long long length = big_endian(b, 2);
    if (length < 2) return std::nullopt;
    const bool frame = c >= 0xC0 && c <= 0xCF && c != 0xC4 && c != 0xC8 && c != 0xCC;
    if (frame) {
      if (length < 7 || !in.read(reinterpret_cast<char*>(b + 2), 5)) return std::nullopt;
      return ImageSize{big_endian(b + 5, 2), big_endian(b + 3, 2)};
    }
    in.seekg(length - 2, std::ios::cur);
  }
}

}  // namespace

std::optional<ImageSize> read_image_size(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char h[26] = {};
  if (!in.read(reinterpret_cast<char*>(h), 2)) return std::nullopt;
  if (h[0] == 0xFF && h[1] == 0xD8) return jpeg_size(in);
  in.read(reinterpret_cast<char*>(h + 2), sizeof(h) - 2);
  if (in.gcount() != static_cast<std::streamsize>(sizeof(h) - 2)) return std::nullopt;
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (std::equal(kPng, kPng + 8, h) && std::equal(h + 12, h + 16, "IHDR")) {
    return ImageSize{big_endian(h + 16, 4), big_endian(h + 20, 4)};
  }
  if (h[0] == 'B' && h[1] == 'M') {
    if (little_endian(h + 14, 4) == 12) return ImageSize{little_endian(h + 18, 2), little_endian(h + 20, 2)};
    // Signed 32-bit sides; a negative height means rows stored top-down.
    const auto side = [&](int at) { return std::llabs(static_cast<int32_t>(little_endian(h + at, 4))); };
    return ImageSize{side(18), side(22)};
  }
  return std::nullopt;
}

long long max_image_pixels() {
  constexpr long long kDefault = 100'000'000;
  const char* env = std::getenv("VDSR_MAX_IMAGE_PIXELS");
  if (!env || !*env) return kDefault;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(env, &end, 10);
  if (*end != '\0' || errno != 0 || v < 1) {
    throw Error(std::string("environment variable VDSR_MAX_IMAGE_PIXELS: expected a positive pixel count, got '") +
                env + "'");
  }
  return v;
}

Image read_image(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw Error(path.string() + ": image file does not exist");
  if (const auto size = read_image_size(path)) {
    const long long limit = max_image_pixels();
    if (size->width > 0 && size->height > limit / size->width) {
      throw Error(path.string() + ": image is " + std::to_string(size->width) + "x" + std::to_string(size->height) +
                  ", more than the limit of " + std::to_string(limit) +
                  " pixels (set VDSR_MAX_IMAGE_PIXELS to raise it)");
    }
  }
  cv::Mat bgr = cv::imread(path.string(), cv::IMREAD_COLOR);  // grayscale decodes to B=G=R
  if (bgr.empty()) throw Error(path.string() + ": cannot decode image (expected PNG, BMP or JPEG)");
  Image rgb(bgr.rows, bgr.cols, 3);
  for (int y = 0; y < bgr.rows; ++y) {
    const cv::Vec3b* row = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      rgb.at(0, y, x) = row[x][2];
      rgb.at(1, y, x) = row[x][1];
      rgb.at(2, y, x) = row[x][0];
    }
  }
  return rgb;
}

std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(folder)) throw Error(folder.string() + ": image folder does not exist");
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    const bool regular = entry.is_regular_file(ec);
    if (ec) throw Error(entry.path().string() + ": cannot read (" + ec.message() + ")");  // e.g. a symlink loop
    if (!regular) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext == ".png" || ext == ".bmp" || ext == ".jpg" || ext == ".jpeg") files.push_back(entry.path());
  }
  if (ec) throw Error(folder.string() + ": cannot list the image folder (" + ec.message() + ")");
  if (files.empty()) throw Error(folder.string() + ": no images (.png, .bmp, .jpg) in the folder");
  std::sort(files.begin(), files.end());
  return files;
}

void check_image_output(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext.empty()) throw Error(path.string() + ": output image needs an extension (.png, .bmp, .jpg)");
  if (!cv::haveImageWriter(path.string())) {
    throw Error(path.string() + ": cannot write images of type " + ext + " (expected .png, .bmp or .jpg)");
  }
}

namespace {

// The image as 8-bit BGR (or gray), rounded and clipped, encoded by OpenCV as `ext`.
std::string encode_image(const Image& image, const std::string& ext, const std::string& where) {
  if (image.channels != 1 && image.channels != 3) throw Error("write_image: expected 1 or 3 channels");
  cv::Mat mat(image.height, image.width, image.channels == 3 ? CV_8UC3 : CV_8UC1);
  auto to_byte = [](double v) { return static_cast<unsigned char>(std::lround(std::clamp(v, 0.0, 255.0))); };
  for (int y = 0; y < image.height; ++y) {
    unsigned char* row = mat.ptr<unsigned char>(y);
    for (int x = 0; x < image.width; ++x) {
      if (image.channels == 1) {
        row[x] = to_byte(image.at(0, y, x));
      } else {
        for (int c = 0; c < 3; ++c) row[3 * x + c] = to_byte(image.at(2 - c, y, x));  // RGB -> BGR
      }
    }
  }
  std::vector<unsigned char> encoded;
  if (!cv::imencode(ext, mat, encoded)) throw Error(where + ": cannot encode as " + ext);
  return std::string(encoded.begin(), encoded.end());
}

}  // namespace

void write_image(const std::filesystem::path& path, const Image& image) {
  check_image_output(path);
  write_file_atomically(path, encode_image(image, path.extension().string(), path.string()));
}

std::string encode_png(const Image& image) { return encode_image(image, ".png", "PNG"); }

namespace {
// ITU-R BT.601 as MATLAB's rgb2ycbcr, rows scaled for inputs on the 0..255 scale.
constexpr double kToYcc[3][3] = {{65.481, 128.553, 24.966}, {-37.797, -74.203, 112.0}, {112.0, -93.786, -18.214}};
constexpr double kYccOffset[3] = {16.0, 128.0, 128.0};
}  // namespace

Image rgb2ycbcr(const Image& rgb) {
  if (rgb.channels != 3) throw Error("rgb2ycbcr: expected a 3-channel image");
  Image out(rgb.height, rgb.width, 3);
  const std::size_t n = rgb.plane_size();
  for (std::size_t i = 0; i < n; ++i) {
    double r = rgb.data[i], g = rgb.data[n + i], b = rgb.data[2 * n + i];
    for (int c = 0; c < 3; ++c) {
      out.data[c * n + i] = kYccOffset[c] + (kToYcc[c][0] * r + kToYcc[c][1] * g + kToYcc[c][2] * b) / 255.0;
    }
  }
  return out;
}

Image ycbcr2rgb(const Image& ycc) {
  if (ycc.channels != 3) throw Error("ycbcr2rgb: expected a 3-channel image");
  // Inverse of the 3x3 matrix above (computed once, in double precision).
  static const auto inverse = [] {
    const auto& m = kToYcc;
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    std::array<std::array<double, 3>, 3> inv{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        int i1 = (j + 1) % 3, i2 = (j + 2) % 3, j1 = (i + 1) % 3, j2 = (i + 2) % 3;
        inv[i][j] = (m[i1][j1] * m[i2][j2] - m[i1][j2] * m[i2][j1]) / det;
      }
    return inv;
  }();
  Image out(ycc.height, ycc.width, 3);
  const std::size_t n = ycc.plane_size();
  for (std::size_t i = 0; i < n; ++i) {
    double v[3];
    for (int c = 0; c < 3; ++c) v[c] = (ycc.data[c * n + i] - kYccOffset[c]) * 255.0;
    for (int c = 0; c < 3; ++c) out.data[c * n + i] = inverse[c][0] * v[0] + inverse[c][1] * v[1] + inverse[c][2] * v[2];
  }
  return out;
}

Image modcrop(const Image& image, int scale) {
  if (scale < 1) throw Error("modcrop: scale must be >= 1");
  return image.crop(0, 0, image.height - image.height % scale, image.width - image.width % scale);
}

Image clip(const Image& image, double lo, double hi) {
  Image out = image;
  for (double& v : out.data) v = std::clamp(v, lo, hi);
  return out;
}

Image hconcat(const std::vector<Image>& images, int gap, double fill) {
  int width = 0;
  for (const Image& im : images) width += im.width;
  width += gap * (static_cast<int>(images.size()) - 1);
  const Image& first = images.at(0);
  Image out(first.height, width, first.channels, fill);
  int left = 0;
  for (const Image& im : images) {
    if (im.height != first.height || im.channels != first.channels) {
      throw std::invalid_argument("hconcat: images differ in height or channels");
    }
    for (int c = 0; c < im.channels; ++c)
      for (int y = 0; y < im.height; ++y)
        for (int x = 0; x < im.width; ++x) out.at(c, y, left + x) = im.at(c, y, x);
    left += im.width + gap;
  }
  return out;
}

}  // namespace vdsr
