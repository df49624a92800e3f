#include "vdsr/data/patches.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#include "vdsr/data/h5.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/progress.h"
#include "vdsr/util/random.h"

namespace vdsr::data {

std::string flip_name(Flip flip) {
  switch (flip) {
    case Flip::Vertical: return "vertical";
    case Flip::Horizontal: return "horizontal";
    case Flip::None: return "none";
  }
  return "none";
}

Flip parse_flip(const std::string& name) {
  if (name == "vertical") return Flip::Vertical;
  if (name == "horizontal") return Flip::Horizontal;
  if (name == "none") return Flip::None;
  throw Error("--flips: expected vertical, horizontal or none, got '" + name + "'");
}

Image flip_image(const Image& image, Flip flip) {
  if (flip == Flip::None) return image;
  Image out(image.height, image.width, image.channels);
  for (int c = 0; c < image.channels; ++c)
    for (int y = 0; y < image.height; ++y)
      for (int x = 0; x < image.width; ++x) {
        out.at(c, y, x) = flip == Flip::Vertical ? image.at(c, image.height - 1 - y, x)
                                                 : image.at(c, y, image.width - 1 - x);
      }
  return out;
}

Image rotate_ccw(const Image& image, int degrees) {
  const int turns = ((degrees / 90) % 4 + 4) % 4;
  if (degrees % 90 != 0) throw Error("rotation must be a multiple of 90 degrees, got " + std::to_string(degrees));
  if (turns == 0) return image;
  const int h = image.height, w = image.width;
  Image out(turns == 2 ? h : w, turns == 2 ? w : h, image.channels);
  for (int c = 0; c < image.channels; ++c)
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x) {
        // rot90 (counter-clockwise): out(y, x) = in(x, w-1-y); twice and three times likewise.
        double v;
        if (turns == 1) {
          v = image.at(c, x, w - 1 - y);
        } else if (turns == 2) {
          v = image.at(c, h - 1 - y, w - 1 - x);
        } else {
          v = image.at(c, h - 1 - x, y);
        }
        out.at(c, y, x) = v;
      }
  return out;
}

Image luma_uint8_to_double(const Image& rgb) {
  if (rgb.channels != 3) throw Error("rgb2ycbcr: expected a 3-channel image");
  // rgb2ycbcr for uint8 scales the coefficients by 1/255 and calls imlincomb, which sums in double in
  // argument order and rounds once to uint8.
  const double t0 = (1.0 / 255.0) * 65.481, t1 = (1.0 / 255.0) * 128.553, t2 = (1.0 / 255.0) * 24.966;
  Image y(rgb.height, rgb.width, 1);
  const std::size_t n = rgb.plane_size();
  for (std::size_t i = 0; i < n; ++i) {
    double v = t0 * rgb.data[i];
    v += t1 * rgb.data[n + i];
    v += t2 * rgb.data[2 * n + i];
    v += 16.0;
    y.data[i] = std::clamp(std::round(v), 0.0, 255.0) / 255.0;  // im2double
  }
  return y;
}

Image augmented_luma(const Image& rgb, Flip flip, int rotation, double downsize) {
  return luma_uint8_to_double(imresize_uint8(rotate_ccw(flip_image(rgb, flip), rotation), downsize));
}

void augmented_size(int height, int width, int rotation, double downsize, int* out_height, int* out_width) {
  const bool swap = ((rotation / 90) % 2) != 0;
  const int h = swap ? width : height, w = swap ? height : width;
  *out_height = downsize == 1.0 ? h : imresize_length(h, downsize);
  *out_width = downsize == 1.0 ? w : imresize_length(w, downsize);
}

long long patches_along(int length, int scale, int patch_size, int stride) {
  const int cropped = length - length % scale;
  return cropped < patch_size ? 0 : (cropped - patch_size) / stride + 1;
}

long long patches_for_image(int height, int width, const GenerateOptions& o) {
  long long total = 0;
  for (std::size_t f = 0; f < o.flips.size(); ++f)
    for (int rotation : o.rotations)
      for (int s : o.scales)
        for (double d : o.downsizes) {
          int h = 0, w = 0;
          augmented_size(height, width, rotation, d, &h, &w);
          total += patches_along(h, s, o.patch_size, o.stride) * patches_along(w, s, o.patch_size, o.stride);
        }
  return total;
}

void extract_patches(const Image& y, int scale, int patch_size, int stride, std::vector<float>& input,
                     std::vector<float>& label) {
  const Image gt = modcrop(y, scale);
  if (gt.height < patch_size || gt.width < patch_size) return;
  const Image bicubic = imresize(imresize(gt, 1.0 / scale), gt.height, gt.width);
  for (int top = 0; top + patch_size <= gt.height; top += stride)
    for (int left = 0; left + patch_size <= gt.width; left += stride)
      for (int r = 0; r < patch_size; ++r)
        for (int c = 0; c < patch_size; ++c) {
          input.push_back(static_cast<float>(bicubic.at(0, top + r, left + c)));
          label.push_back(static_cast<float>(gt.at(0, top + r, left + c)));
        }
}

void validate(const GenerateOptions& o) {
  if (o.patch_size < 1 || o.patch_size > 1024) {
    throw Error("--patch-size: expected 1..1024, got " + std::to_string(o.patch_size));
  }
  if (o.stride < 1) throw Error("--stride: expected a positive integer, got " + std::to_string(o.stride));
  if (o.scales.empty()) throw Error("--scales: expected at least one scale");
  for (int s : o.scales)
    if (s < 1 || s > 16) throw Error("--scales: expected integers in 1..16, got " + std::to_string(s));
  if (o.downsizes.empty()) throw Error("--downsizes: expected at least one factor");
  for (double d : o.downsizes)
    if (!(d > 0.0 && d <= 1.0)) throw Error("--downsizes: expected factors in (0, 1], got " + std::to_string(d));
  if (o.flips.empty()) throw Error("--flips: expected at least one of vertical, horizontal, none");
  if (o.rotations.empty()) throw Error("--rotations: expected at least one of 0, 90, 180, 270");
  for (int r : o.rotations)
    if (r != 0 && r != 90 && r != 180 && r != 270) {
      throw Error("--rotations: expected 0, 90, 180 or 270, got " + std::to_string(r));
    }
  if (o.limit < 0) throw Error("--limit: expected 0 (no limit) or a positive count");
  if (o.bucket_patches < 1) throw Error("bucket size must be at least 1 patch");
}

namespace {

struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted; no output written") {}
};

bool cancelled(const GenerateOptions& o) { return o.cancel && o.cancel->load(); }

// The patches of one image under every augmentation, in the reference's loop order
// (flip, rotation, scale, downsize); each downsized Y is computed once and reused across scales.
struct ImagePatches {
  std::vector<float> input, label;
};

ImagePatches image_patches(const fs::path& path, const GenerateOptions& o) {
  ImagePatches out;
  const Image rgb = read_image(path);
  for (Flip flip : o.flips)
    for (int rotation : o.rotations) {
      if (cancelled(o)) return out;
      std::vector<Image> lumas;
      for (double d : o.downsizes) lumas.push_back(augmented_luma(rgb, flip, rotation, d));
      for (int s : o.scales)
        for (const Image& y : lumas) extract_patches(y, s, o.patch_size, o.stride, out.input, out.label);
    }
  return out;
}

// Removes a folder tree when it goes out of scope (success, error or interrupt).
struct TempDir {
  fs::path path;
  ~TempDir() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

GenerateResult generate(const GenerateOptions& o) {
  validate(o);
  h5::silence_errors();
  const auto start = std::chrono::steady_clock::now();
  const std::vector<fs::path> files = list_images(o.images);
  const fs::path folder = o.out.parent_path().empty() ? fs::path(".") : o.out.parent_path();
  if (!fs::is_directory(folder)) throw Error(o.out.string() + ": output folder " + folder.string() + " does not exist");
  if (fs::is_directory(o.out)) throw Error(o.out.string() + ": is a folder, expected the output file's path");
  check_output_folder(folder, o.out.string());  // before decoding every image

  // Pass 0: decode every image once for its size, so a bad file fails before anything is written and the
  // patch count (hence the dataset shape and the bucket count) is known up front.
  long long total = 0;
  {
    Progress progress("scanning", static_cast<long>(files.size()), "images");
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (cancelled(o)) throw Interrupted();
      const Image rgb = read_image(files[i]);
      total += patches_for_image(rgb.height, rgb.width, o);
      progress.update(static_cast<long>(i + 1));
    }
  }
  const long long count = o.limit > 0 ? std::min(total, o.limit) : total;
  if (count == 0) {
    throw Error(o.images.string() + ": the images yield no " + std::to_string(o.patch_size) + "x" +
                std::to_string(o.patch_size) + " patches with these settings (images too small?)");
  }
  const int per_patch = o.patch_size * o.patch_size;
  // Buckets hold 80% of the budget on average, so the Binomial spread of their sizes stays inside it.
  const long long buckets = std::clamp<long long>(
      static_cast<long long>(std::ceil(count / (0.8 * static_cast<double>(o.bucket_patches)))), 1, 4096);
  spdlog::info("{} images in {}: {} patches{} of {}x{}, shuffled through {} bucket(s)", files.size(),
               o.images.string(), count, o.limit > 0 ? fmt::format(" (limit {} of {})", o.limit, total) : "",
               o.patch_size, o.patch_size, buckets);

  std::random_device rd;
  TempDir temp{folder / ("." + o.out.filename().string() + ".buckets" + std::to_string(rd()))};
  fs::create_directories(temp.path);
  std::vector<File> bucket_files;
  std::vector<long long> bucket_sizes(static_cast<std::size_t>(buckets), 0);
  for (long long b = 0; b < buckets; ++b) {
    const fs::path p = temp.path / (std::to_string(b) + ".bin");
    File f(std::fopen(p.c_str(), "w+b"));
    if (!f) throw Error(p.string() + ": cannot create a temporary bucket file");
    std::setvbuf(f.get(), nullptr, _IOFBF, 1 << 18);
    bucket_files.push_back(std::move(f));
  }

  // Pass 1: images processed by workers, consumed in order so the result depends on the seed only.
  Rng bucket_rng(mix64(o.seed, 0x6275636b));
  const unsigned threads = o.threads > 0 ? static_cast<unsigned>(o.threads)
                                         : std::max(1u, std::thread::hardware_concurrency());
  long long written = 0;
  int images_used = 0;
  std::size_t next = 0;
  std::deque<std::future<ImagePatches>> pending;
  {
    Progress progress("patches", static_cast<long>(count), "patches");
    while (written < count && (next < files.size() || !pending.empty())) {
      while (pending.size() < threads && next < files.size()) {
        const fs::path path = files[next++];
        pending.push_back(std::async(std::launch::async, [path, &o] { return image_patches(path, o); }));
      }
      ImagePatches patches = pending.front().get();
      pending.pop_front();
      if (cancelled(o)) throw Interrupted();
      ++images_used;
      const long long n = static_cast<long long>(patches.input.size() / per_patch);
      for (long long i = 0; i < n && written < count; ++i, ++written) {
        const std::size_t b = bucket_rng.below(static_cast<std::uint64_t>(buckets));
        std::FILE* f = bucket_files[b].get();
        const std::size_t offset = static_cast<std::size_t>(i) * per_patch;
        if (std::fwrite(patches.input.data() + offset, sizeof(float), per_patch, f) != static_cast<std::size_t>(per_patch) ||
            std::fwrite(patches.label.data() + offset, sizeof(float), per_patch, f) != static_cast<std::size_t>(per_patch)) {
          throw Error(temp.path.string() + ": cannot write temporary patches (disk full?)");
        }
        ++bucket_sizes[b];
      }
      progress.update(static_cast<long>(written));
    }
  }
  for (auto& f : pending) f.wait();  // a --limit run stops early: let started workers finish
  pending.clear();

  // Pass 2: each bucket shuffled in memory and appended. Random bucket membership followed by a uniform
  // shuffle inside each bucket gives a uniformly random permutation of all patches.
  write_atomically(o.out, [&](const fs::path& temp_out) {
    h5::Handle file = h5::check(H5Fcreate(temp_out.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                                o.out.string() + ": cannot create HDF5 file");
    const hsize_t dims[4] = {static_cast<hsize_t>(count), 1, static_cast<hsize_t>(o.patch_size),
                             static_cast<hsize_t>(o.patch_size)};
    // About 1 MiB chunks: partial reads stay cheap and h5py/MATLAB read the file as usual.
    const hsize_t chunk_n = std::clamp<hsize_t>((1u << 20) / (per_patch * sizeof(float)), 1, dims[0]);
    const hsize_t chunk[4] = {chunk_n, 1, dims[2], dims[3]};
    h5::Handle space = h5::check(H5Screate_simple(4, dims, nullptr), H5Sclose, "dataspace");
    h5::Handle dcpl = h5::check(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset properties");
    h5::check(H5Pset_chunk(dcpl.get(), 4, chunk), "chunk layout");
    h5::Handle dset[2];
    const char* names[2] = {"data", "label"};
    for (int k = 0; k < 2; ++k) {
      dset[k] = h5::check(H5Dcreate2(file.get(), names[k], H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(),
                                     H5P_DEFAULT),
                          H5Dclose, o.out.string() + ": cannot create dataset " + names[k]);
    }
    Progress progress("shuffling", static_cast<long>(buckets), "buckets");
    const hsize_t slab = 1024;
    std::vector<float> out[2];
    hsize_t position = 0;
    std::vector<float> records;
    for (long long b = 0; b < buckets; ++b) {
      if (cancelled(o)) throw Interrupted();
      const std::size_t n = static_cast<std::size_t>(bucket_sizes[static_cast<std::size_t>(b)]);
      std::FILE* f = bucket_files[static_cast<std::size_t>(b)].get();
      records.resize(n * 2 * per_patch);
      if (std::fflush(f) != 0 || std::fseek(f, 0, SEEK_SET) != 0 ||
          std::fread(records.data(), sizeof(float), records.size(), f) != records.size()) {
        throw Error(temp.path.string() + ": cannot read back temporary patches");
      }
      bucket_files[static_cast<std::size_t>(b)].reset();
      std::error_code ignored;
      fs::remove(temp.path / (std::to_string(b) + ".bin"), ignored);  // frees disk as we go
      std::vector<std::uint32_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
      Rng(mix64(o.seed, static_cast<std::uint64_t>(b) + 1)).shuffle(order);
      for (std::size_t first = 0; first < n; first += slab) {
        const std::size_t m = std::min<std::size_t>(slab, n - first);
        for (int k = 0; k < 2; ++k) out[k].resize(m * per_patch);
        for (std::size_t i = 0; i < m; ++i) {
          const float* rec = records.data() + static_cast<std::size_t>(order[first + i]) * 2 * per_patch;
          std::copy(rec, rec + per_patch, out[0].data() + i * per_patch);
          std::copy(rec + per_patch, rec + 2 * per_patch, out[1].data() + i * per_patch);
        }
        const hsize_t start[4] = {position, 0, 0, 0};
        const hsize_t size[4] = {m, 1, dims[2], dims[3]};
        h5::Handle memspace = h5::check(H5Screate_simple(4, size, nullptr), H5Sclose, "memory dataspace");
        h5::check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, size, nullptr), "hyperslab");
        for (int k = 0; k < 2; ++k) {
          h5::check(H5Dwrite(dset[k].get(), H5T_NATIVE_FLOAT, memspace.get(), space.get(), H5P_DEFAULT,
                             out[k].data()),
                    o.out.string() + ": cannot write patches (disk full?)");
        }
        position += m;
      }
      progress.update(static_cast<long>(b + 1));
    }
    if (position != dims[0]) throw std::logic_error("patch count mismatch while shuffling");

    std::vector<std::string> flip_names;
    for (Flip f : o.flips) flip_names.push_back(flip_name(f));
    std::string flips;
    for (std::size_t i = 0; i < flip_names.size(); ++i) flips += (i ? "," : "") + flip_names[i];
    const hid_t root = file.get();
    h5::write_attribute(root, "version", std::string("vdsr-data/1"));
    h5::write_attribute(root, "scales", o.scales);
    h5::write_attribute(root, "downsizes", o.downsizes);
    h5::write_attribute(root, "flips", flips);
    h5::write_attribute(root, "rotations", o.rotations);
    h5::write_attribute(root, "patch_size", static_cast<long long>(o.patch_size));
    h5::write_attribute(root, "stride", static_cast<long long>(o.stride));
    h5::write_attribute(root, "seed", static_cast<unsigned long long>(o.seed));
    h5::write_attribute(root, "limit", o.limit);
    h5::write_attribute(root, "source", fs::absolute(o.images).lexically_normal().string());
    h5::write_attribute(root, "image_count", static_cast<long long>(files.size()));
    h5::write_attribute(root, "images_used", static_cast<long long>(images_used));
    h5::write_attribute(root, "patch_count", count);
    for (auto& d : dset) d.reset();
    space.reset();
    dcpl.reset();
    if (H5Fclose(file.release()) < 0) throw Error(o.out.string() + ": cannot finish writing (disk full?)");
  });

  GenerateResult result;
  result.patches = count;
  result.images = static_cast<int>(files.size());
  result.images_used = images_used;
  for (int i = 0; i < images_used; ++i) result.used_names.push_back(files[static_cast<std::size_t>(i)].filename().string());
  result.buckets = static_cast<int>(buckets);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace vdsr::data
