// The project's own inference path (vdsr::Upscaler), minus the 0..255 scaling; "aten" is the same path
// with at::conv2d per layer.
#include "runtime/registry.h"
#include "vdsr/util/error.h"

namespace vdsr::runtime {

namespace {

class LibTorchRunner : public Runner {
 public:
  LibTorchRunner(std::string name, const Checkpoint& ck, const InferenceOptions& options, Device device)
      : name_(std::move(name)), upscaler_(ck, device, options) {}
  std::string name() const override { return name_; }
  Batch forward(const Batch& x) override {
    Batch b{x.n, x.h, x.w, std::vector<float>(x.data.size())};
    const size_t plane = static_cast<size_t>(x.h) * static_cast<size_t>(x.w);
    for (int i = 0; i < x.n; ++i) upscaler_.forward(&x.data[i * plane], &b.data[i * plane], x.h, x.w);
    return b;
  }
  std::vector<std::string> kernels() const override { return upscaler_.kernels(); }

 private:
  std::string name_;
  Upscaler upscaler_;
};

const Checkpoint& weights_of(const ModelSource& model, const std::string& runtime) {
  if (!model.checkpoint) throw Error(runtime + " runs a checkpoint, and none was given");
  return *model.checkpoint;
}

}  // namespace

std::unique_ptr<Runner> make_libtorch_runner(const ModelSource& model) {
  return std::make_unique<LibTorchRunner>("libtorch", weights_of(model, "libtorch"), model.options, model.device);
}

std::unique_ptr<Runner> make_aten_runner(const ModelSource& model) {
  InferenceOptions options = model.options;
  options.engine = InferenceOptions::Engine::aten;
  return std::make_unique<LibTorchRunner>("aten", weights_of(model, "aten"), options, model.device);
}

}  // namespace vdsr::runtime
