#include "runtime/runners.h"


#include <algorithm>
#include <chrono>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <random>

#include "vdsr/inference.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"
#include "vdsr/util/progress.h"

namespace vdsr::runtime {

namespace fs = std::filesystem;

namespace {
// Scaled and clipped in float32, as Upscaler does, so every runtime's PSNR uses the same arithmetic.
double to_pixel(float v) { return static_cast<double>(std::clamp(v * 255.0f, 0.0f, 255.0f)); }
}  // namespace

Image Runner::run_y(const Image& y) {
  const Batch out = forward(image_batch(y));
  Image result(y.height, y.width, 1);
  for (size_t i = 0; i < result.data.size(); ++i) {
    result.data[i] = to_pixel(out.data[i]);
  }
  return result;
}

namespace {

// The project's own inference path (vdsr::Upscaler, untiled), minus the 0..255 scaling.
class LibTorchRunner : public Runner {
 public:
  LibTorchRunner(const Checkpoint& ck, InferenceOptions options) : upscaler_(ck, Device{}, options) {}
  std::string name() const override { return "libtorch"; }
  Batch forward(const Batch& x) override {
    Batch b{x.n, x.h, x.w, std::vector<float>(x.data.size())};
    const size_t plane = static_cast<size_t>(x.h) * static_cast<size_t>(x.w);
    for (int i = 0; i < x.n; ++i) upscaler_.forward(&x.data[i * plane], &b.data[i * plane], x.h, x.w);
    return b;
  }
  std::vector<std::string> kernels() const override { return upscaler_.kernels(); }

 private:
  Upscaler upscaler_;
};

class OpenCvRunner : public Runner {
 public:
  explicit OpenCvRunner(const std::string& bytes) {
    try {
      net_ = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
    } catch (const cv::Exception& e) {
      throw Error(std::string("OpenCV DNN cannot read the ONNX model: ") + e.what());
    }
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  }
  std::string name() const override { return "opencv-dnn"; }
  Batch forward(const Batch& x) override {
    const int dims[] = {x.n, 1, x.h, x.w};
    cv::Mat in(4, dims, CV_32F, const_cast<float*>(x.data.data()));
    net_.setInput(in, "input");
    const cv::Mat out = net_.forward("output");
    if (out.total() != x.data.size()) {
      throw Error("OpenCV DNN returned " + std::to_string(out.total()) + " values for " +
                  std::to_string(x.data.size()) + " inputs");
    }
    Batch b{x.n, x.h, x.w, std::vector<float>(x.data.size())};
    std::memcpy(b.data.data(), out.ptr<float>(), b.data.size() * sizeof(float));
    return b;
  }

 private:
  cv::dnn::Net net_;
};

}  // namespace

std::unique_ptr<Runner> libtorch_runner(const Checkpoint& checkpoint, InferenceOptions options) {
  return std::make_unique<LibTorchRunner>(checkpoint, options);
}
std::unique_ptr<Runner> opencv_runner(const std::string& onnx_bytes) { return std::make_unique<OpenCvRunner>(onnx_bytes); }

Batch random_batch(int n, int h, int w, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Batch b{n, h, w, std::vector<float>(static_cast<size_t>(n) * h * w)};
  for (float& v : b.data) v = u(rng);
  return b;
}

Batch image_batch(const Image& y) {
  Batch b{1, y.height, y.width, std::vector<float>(y.plane_size())};
  // Same rounding as Upscaler: to float first, then divide in float.
  for (size_t i = 0; i < b.data.size(); ++i) b.data[i] = static_cast<float>(y.data[i]) / 255.0f;
  return b;
}

double max_abs_diff(const Batch& a, const Batch& b) {
  if (a.data.size() != b.data.size()) throw Error("outputs differ in size");
  double m = 0;
  for (size_t i = 0; i < a.data.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  return m;
}

namespace {
ImageScore score_one(const ScaledPair& pair, const Image& out, const std::string& name, int scale) {
  ImageScore s;
  s.name = name;
  s.bicubic_psnr = psnr(pair.bicubic, pair.ground_truth, scale);
  s.psnr = psnr(out, pair.ground_truth, scale);
  s.bicubic_ssim = ssim(pair.bicubic, pair.ground_truth, scale);
  s.ssim = ssim(out, pair.ground_truth, scale);
  return s;
}
}  // namespace

ScaleScore evaluate_scale_with(Runner& runner, const std::vector<fs::path>& images, int scale) {
  ScaleScore score;
  score.scale = scale;
  Progress progress(runner.name() + " x" + std::to_string(scale), static_cast<long>(images.size()), "images");
  for (const auto& path : images) {
    const ScaledPair pair = make_scaled_pair(read_image(path), scale, path.string());
    const auto start = std::chrono::steady_clock::now();
    const Image out = runner.run_y(pair.bicubic);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    score.images.push_back(score_one(pair, out, path.stem().string(), scale));
    score.images.back().seconds = seconds;
    progress.update(static_cast<long>(score.images.size()));
  }
  return score;
}

ScaleScore score_outputs(const std::vector<ScaledPair>& pairs, const std::vector<std::string>& names,
                         const std::vector<Batch>& outputs, int scale) {
  ScaleScore score;
  score.scale = scale;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const Image& gt = pairs[k].ground_truth;
    Image out(gt.height, gt.width, 1);
    if (outputs[k].data.size() != out.data.size()) throw Error(names[k] + ": output has the wrong size");
    for (size_t i = 0; i < out.data.size(); ++i) {
      out.data[i] = to_pixel(outputs[k].data[i]);
    }
    score.images.push_back(score_one(pairs[k], out, names[k], scale));
  }
  return score;
}

nlohmann::json latency_json(std::vector<double> ms, int h, int w, int threads) {
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  const double median = n == 0 ? 0.0 : (n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]));
  return {{"input", {h, w}},
          {"threads", threads},
          {"latency_ms", {{"median", median}, {"min", n ? ms.front() : 0.0}, {"max", n ? ms.back() : 0.0}}},
          {"runs", n}};
}

nlohmann::json time_forward(Runner& runner, const Batch& x, int runs, int threads) {
  runner.forward(x);  // warm-up: allocations, kernel selection
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    runner.forward(x);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return latency_json(ms, x.h, x.w, threads);
}

int set_threads(int threads) {
  const int n = configure_threads(threads);
  cv::setNumThreads(n);
  return n;
}

}  // namespace vdsr::runtime
