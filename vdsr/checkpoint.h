#pragma once
// The project's checkpoint format, and import of PyTorch state dicts.
//
// A checkpoint is a torch.save-compatible zip archive holding a dict:
//   vdsr_checkpoint: format version (int)      meta: JSON text (see docs/checkpoint.md)
//   weights: name -> tensor (the reference's parameter names)     state: name -> tensor (training state)
// so Python's torch.load can open it too. Files are written atomically and carry a SHA-256 of the
// weights, checked on load.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "vdsr/model.h"

namespace vdsr {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

constexpr int kCheckpointVersion = 1;

struct Checkpoint {
  Architecture architecture;
  NamedTensors weights;  // in Architecture::layer_names() order
  nlohmann::json meta = nlohmann::json::object();  // scales, provenance, training progress, ...
  NamedTensors state;    // optimizer buffers and other training state; empty for a plain model
};

// Loads our checkpoint, or imports a PyTorch state dict: a plain dict, the OrderedDict that
// torch.save(model.state_dict()) writes, or either under a "model"/"state_dict" key. Throws vdsr::Error
// naming the file for a missing, foreign or corrupted file, and the tensor for a missing or mis-shaped one.
Checkpoint load_checkpoint(const std::filesystem::path& path);

void save_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);

// Writes the weights as a plain state dict that Python's torch.load reads.
void export_state_dict(const std::filesystem::path& path, const Checkpoint& checkpoint);

// Infers depth and widths from reference-named tensors and checks every shape; `where` names the source.
Architecture architecture_from_weights(const NamedTensors& weights, const std::string& where);

VDSR model_from_checkpoint(const Checkpoint& checkpoint);
Checkpoint checkpoint_from_model(VDSR& model, nlohmann::json meta = nlohmann::json::object());

// The report contract's model block: {path, sha256, bytes, widths, depth, params, macs_per_pixel}.
nlohmann::json model_json(const std::filesystem::path& path, const Checkpoint& checkpoint);

// SHA-256 over the weights' float32 bytes in order: identifies a model independently of its file.
std::string weights_sha256(const NamedTensors& weights);

}  // namespace vdsr
