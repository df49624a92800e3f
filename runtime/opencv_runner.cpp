// OpenCV DNN on the ONNX bytes, on the CPU with OpenCV's own backend.
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "runtime/registry.h"
#include "vdsr/util/error.h"

namespace vdsr::runtime {

namespace {

class OpenCvRunner : public Runner {
 public:
  explicit OpenCvRunner(const std::string& bytes) {
    if (bytes.empty()) throw Error("opencv-dnn runs an ONNX model, and none was given");
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

std::unique_ptr<Runner> make_opencv_runner(const ModelSource& model) {
  return std::make_unique<OpenCvRunner>(model.onnx);
}

}  // namespace vdsr::runtime
