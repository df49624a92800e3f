#include "vdsr/checkpoint.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#include "vdsr/torch_file.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr {
namespace {

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

NamedTensors tensors_of(const PyRef& dict, const std::string& where, const std::string& what) {
  NamedTensors out;
  for (const auto& [k, v] : dict->dict) {
    if (k->kind != PyValue::Kind::String) throw Error(where + ": " + what + " has a non-string key");
    if (v->kind != PyValue::Kind::Tensor) throw Error(where + ": " + what + " entry '" + k->text + "' is not a tensor");
    out.emplace_back(k->text, v->tensor);
  }
  return out;
}

bool is_state_dict(const PyRef& v) {
  if (!v || v->kind != PyValue::Kind::Dict || v->dict.empty()) return false;
  for (const auto& [k, t] : v->dict) {
    if (k->kind != PyValue::Kind::String || t->kind != PyValue::Kind::Tensor) return false;
  }
  return true;
}

Checkpoint import_state_dict(const NamedTensors& found, const std::string& where) {
  Checkpoint ck;
  ck.architecture = architecture_from_weights(found, where);
  std::map<std::string, at::Tensor> by_name(found.begin(), found.end());
  for (const auto& name : ck.architecture.layer_names()) {
    ck.weights.emplace_back(name, by_name.at(name).to(at::kFloat).contiguous());
  }
  ck.meta["scales"] = {2, 3, 4};  // a plain state dict does not say; the reference model covers all three
  ck.meta["provenance"] = {{"imported_from", where}, {"source_sha256", sha256_file(where)}};
  return ck;
}

}  // namespace

Architecture architecture_from_weights(const NamedTensors& weights, const std::string& where) {
  std::map<std::string, at::Tensor> by_name(weights.begin(), weights.end());
  int residual = 0;
  while (by_name.count("residual_layer." + std::to_string(residual) + ".conv.weight")) ++residual;
  for (const auto& [name, t] : weights) {
    if (name.rfind("residual_layer.", 0) == 0) {
      int index = std::atoi(name.c_str() + std::strlen("residual_layer."));
      if (index >= residual) {
        throw Error(where + ": missing tensor residual_layer." + std::to_string(residual) +
                    ".conv.weight (found " + name + " after it)");
      }
    }
  }
  for (const char* required : {"input.weight", "output.weight"}) {
    if (!by_name.count(required)) throw Error(where + ": missing tensor " + std::string(required));
  }
  // Widths come from each layer's filter count; every shape must then chain exactly.
  Architecture arch;
  arch.widths.push_back(static_cast<int>(by_name["input.weight"].size(0)));
  for (int i = 0; i < residual; ++i) {
    arch.widths.push_back(static_cast<int>(by_name["residual_layer." + std::to_string(i) + ".conv.weight"].size(0)));
  }
  const auto names = arch.layer_names();
  const auto shapes = arch.weight_shapes();
  for (size_t i = 0; i < names.size(); ++i) {
    const at::Tensor& t = by_name[names[i]];
    // Checked here, layer by layer: a layer without filters would otherwise show as the next one's
    // mismatched input.
    if (t.dim() > 0 && t.size(0) == 0) {
      throw Error(where + ": tensor " + names[i] + " has no filters (shape " + shape_string(t.sizes()) +
                  "); every layer needs at least one");
    }
    if (t.sizes() != at::IntArrayRef(shapes[i])) {
      throw Error(where + ": tensor " + names[i] + " has shape " + shape_string(t.sizes()) + ", expected " +
                  shape_string(shapes[i]));
    }
    if (!t.is_floating_point()) throw Error(where + ": tensor " + names[i] + " is not floating point");
    // NaN or infinity would only turn every output into NaN (and a training run into NaN checkpoints).
    const int64_t bad = t.numel() - at::isfinite(t).sum().item<int64_t>();
    if (bad > 0) {
      throw Error(where + ": tensor " + names[i] + " holds " + std::to_string(bad) +
                  " non-finite value(s) (NaN or infinity)");
    }
  }
  for (const auto& [name, t] : weights) {
    if (!std::count(names.begin(), names.end(), name)) {
      throw Error(where + ": unexpected tensor " + name + " (a VDSR has input.weight, residual_layer.N.conv.weight, output.weight)");
    }
  }
  return arch;
}

std::string weights_sha256(const NamedTensors& weights) {
  std::string bytes;
  for (const auto& [name, t] : weights) {
    at::Tensor c = t.to(at::kFloat).contiguous();
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
  }
  return sha256_hex(bytes.data(), bytes.size());
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  const std::string where = path.string();
  PyRef root = read_torch_file(path);
  if (root->kind != PyValue::Kind::Dict) throw Error(where + ": expected a dict at the top level");

  PyRef version = root->get("vdsr_checkpoint");
  if (!version) {
    if (is_state_dict(root)) return import_state_dict(tensors_of(root, where, "state dict"), where);
    for (const char* key : {"model", "state_dict"}) {
      PyRef inner = root->get(key);
      if (is_state_dict(inner)) return import_state_dict(tensors_of(inner, where, key), where);
    }
    throw Error(where + ": neither a vdsr checkpoint nor a PyTorch state dict of tensors");
  }
  if (version->kind != PyValue::Kind::Int || version->integer > kCheckpointVersion || version->integer < 1) {
    throw Error(where + ": checkpoint format version " + std::to_string(version->integer) +
                " is not supported (this build reads up to " + std::to_string(kCheckpointVersion) + ")");
  }
  PyRef meta = root->get("meta"), weights = root->get("weights"), state = root->get("state");
  if (!meta || meta->kind != PyValue::Kind::String || !weights || weights->kind != PyValue::Kind::Dict) {
    throw Error(where + ": corrupted checkpoint (meta or weights missing)");
  }
  Checkpoint ck;
  ck.meta = parse_json(meta->text, where + ": corrupted checkpoint metadata");
  NamedTensors found = tensors_of(weights, where, "weights");
  ck.architecture = architecture_from_weights(found, where);
  std::map<std::string, at::Tensor> by_name(found.begin(), found.end());
  for (const auto& name : ck.architecture.layer_names()) ck.weights.emplace_back(name, by_name.at(name));
  if (state && state->kind == PyValue::Kind::Dict) ck.state = tensors_of(state, where, "state");
  const std::string expected = ck.meta.value("weights_sha256", "");
  if (expected != weights_sha256(ck.weights)) {
    throw Error(where + ": corrupted checkpoint (weights do not match their SHA-256)");
  }
  return ck;
}

void save_checkpoint(const std::filesystem::path& path, const Checkpoint& ck) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  c10::Dict<std::string, at::Tensor> weights, state;
  for (const auto& [name, t] : ck.weights) weights.insert(name, t.detach().cpu().to(at::kFloat).contiguous());
  for (const auto& [name, t] : ck.state) state.insert(name, t.detach().cpu().contiguous());
  nlohmann::json meta = ck.meta;
  meta["format"] = "vdsr-checkpoint";
  meta["version"] = kCheckpointVersion;
  meta["architecture"] = {{"depth", ck.architecture.depth()}, {"widths", ck.architecture.widths}};
  meta["weights_sha256"] = weights_sha256(ck.weights);
  root.insert("vdsr_checkpoint", static_cast<int64_t>(kCheckpointVersion));
  root.insert("meta", dump_json(meta));  // provenance holds paths, which may be any bytes
  root.insert("weights", weights);
  root.insert("state", state);
  const std::vector<char> bytes = torch::pickle_save(root);
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

void export_state_dict(const std::filesystem::path& path, const Checkpoint& ck) {
  write_torch_state_dict(path, ck.weights);
}

nlohmann::json model_json(const std::filesystem::path& path, const Checkpoint& ck) {
  return {{"path", path.string()},
          {"sha256", sha256_file(path)},
          {"bytes", std::filesystem::file_size(path)},
          {"widths", ck.architecture.widths},
          {"depth", ck.architecture.depth()},
          {"params", ck.architecture.params()},
          {"macs_per_pixel", ck.architecture.macs_per_pixel()}};
}

VDSR model_from_checkpoint(const Checkpoint& ck) {
  VDSR model(ck.architecture);
  torch::NoGradGuard no_grad;
  auto weights = model->weights();
  for (size_t i = 0; i < weights.size(); ++i) weights[i].copy_(ck.weights[i].second);
  return model;
}

Checkpoint checkpoint_from_model(VDSR& model, nlohmann::json meta) {
  Checkpoint ck;
  ck.architecture = model->architecture();
  const auto names = ck.architecture.layer_names();
  const auto weights = model->weights();
  for (size_t i = 0; i < names.size(); ++i) ck.weights.emplace_back(names[i], weights[i].detach().cpu().clone());
  ck.meta = std::move(meta);
  return ck;
}

}  // namespace vdsr
