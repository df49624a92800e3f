#include "vdsr/train/training_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"

namespace vdsr::train {

namespace {

const std::string kMomentum = "momentum/";

std::string state_key(const at::Tensor& param) { return c10::guts::to_string(param.unsafeGetTensorImpl()); }

nlohmann::json position_json(const TrainingState& s) {
  return {{"epoch", s.epoch},
          {"batch", s.batch},
          {"global_step", s.global_step},
          {"seed", s.seed},
          {"batch_size", s.batch_size},
          {"epoch_steps", s.epoch_steps},
          {"epoch_patches", s.epoch_patches},
          {"epoch_seconds", s.epoch_seconds},
          {"params", s.params},
          {"clip_mode", s.clip_mode},
          {"lr_schedule", s.lr_schedule},
          {"lr_horizon", s.lr_horizon},
          {"history", s.history}};
}

// Keys this reader does not know are left alone: a checkpoint is data, not a config.
void read_position(Fields& f, TrainingState& s) {
  s.epoch = f.required<int>("epoch", Range::at_least(1));
  s.batch = f.required<long long>("batch", Range::at_least(0));
  s.global_step = f.required<long long>("global_step", Range::at_least(0));
  s.seed = f.required<std::uint64_t>("seed");
  s.batch_size = f.required<int>("batch_size", Range::at_least(1));
  s.epoch_steps = f.optional<long long>("epoch_steps", 0, Range::at_least(0));
  s.epoch_patches = f.optional<long long>("epoch_patches", 0, Range::at_least(0));
  s.epoch_seconds = f.optional<double>("epoch_seconds", 0.0, Range::at_least(0));
  s.lr_schedule = f.optional<LrSchedule>("lr_schedule", LrSchedule::step);  // older checkpoints: step
  s.lr_horizon = f.optional<long long>("lr_horizon", 0, Range::at_least(0));
  for (const auto& record : f.raw("history")) s.history.push_back(record.get<EpochRecord>());
}

void read_tensors(const NamedTensors& state, TrainingState& s) {
  for (const auto& [name, t] : state) {
    if (name.rfind(kMomentum, 0) == 0) s.momentum.emplace_back(name.substr(kMomentum.size()), t);
    if (name == "rng/cpu") s.rng = t;
    if (name == "epoch/loss_sum") s.loss_sum = t;
  }
}

}  // namespace

void encode(const TrainingState& s, Checkpoint& ck) {
  ck.meta["training"] = position_json(s);
  for (const auto& [layer, buffer] : s.momentum) ck.state.emplace_back(kMomentum + layer, buffer);
  ck.state.emplace_back("rng/cpu", s.rng);
  ck.state.emplace_back("epoch/loss_sum", s.loss_sum);
}

TrainingState decode(const Checkpoint& ck, const std::filesystem::path& path) {
  if (!ck.meta.contains("training")) {
    throw Error(path.string() + ": not a vdsr-train checkpoint (no training state); use --pretrained");
  }
  TrainingState s;
  Fields f(ck.meta["training"], path.string() + ": meta.training");
  read_position(f, s);
  read_tensors(ck.state, s);
  return s;
}

NamedTensors momentum_buffers(const torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                              const std::vector<std::string>& names) {
  NamedTensors buffers;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto it = sgd.state().find(state_key(params[i]));
    if (it == sgd.state().end()) continue;
    const auto& buffer = static_cast<const torch::optim::SGDParamState&>(*it->second).momentum_buffer();
    if (buffer.defined()) buffers.emplace_back(names[i], buffer.detach().cpu().contiguous());
  }
  return buffers;
}

// Each buffer goes to its parameter's device, in the weights' memory format.
void restore_momentum(torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                      const std::vector<std::string>& names, const NamedTensors& momentum, at::MemoryFormat format) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    for (const auto& [layer, buffer] : momentum) {
      if (layer != names[i]) continue;
      auto state = std::make_unique<torch::optim::SGDParamState>();
      state->momentum_buffer(buffer.to(params[i].device()).contiguous(format));
      sgd.state()[state_key(params[i])] = std::move(state);
    }
  }
}

at::Tensor cpu_rng_state() { return at::detail::getDefaultCPUGenerator().get_state(); }

void restore_cpu_rng(const at::Tensor& state) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();  // shares the global state
  generator.set_state(state.contiguous());
}

}  // namespace vdsr::train
