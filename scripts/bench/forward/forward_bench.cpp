// C++ side of the forward-pass benchmark: the project's inference path (vdsr::Upscaler) on the same
// weights and inputs as the Python side, one JSON line per (size, threads).
#include <CLI/CLI.hpp>
#include <ATen/ATen.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "vdsr/checkpoint.h"
#include "vdsr/inference.h"
#include "vdsr/torch_file.h"

using namespace vdsr;

int main(int argc, char** argv) {
  CLI::App app{"Times vdsr::Upscaler on [1,1,S,S] inputs from a torch.save'd dict size -> tensor."};
  std::string model, inputs, save_output;
  std::vector<int> threads{1, 2};
  int runs = 5;
  app.add_option("--model", model)->required();
  app.add_option("--inputs", inputs)->required();
  app.add_option("--threads", threads);
  app.add_option("--runs", runs);
  app.add_option("--save-output", save_output, "write the 256x256 output (0..1 scale, unclipped) here");
  CLI11_PARSE(app, argc, argv);

  const Checkpoint ck = load_checkpoint(model);
  const Upscaler upscaler(ck, Device{});
  PyRef dict = read_torch_file(inputs);
  for (const auto& [key, value] : dict->dict) {
    const at::Tensor x = value->tensor.to(at::kDouble).mul(255.0).contiguous();
    Image y(static_cast<int>(x.size(2)), static_cast<int>(x.size(3)), 1);
    std::memcpy(y.data.data(), x.data_ptr<double>(), y.data.size() * sizeof(double));
    for (int t : threads) {
      configure_threads(t);
      Image out = upscaler.run_y(y);  // warm-up
      std::vector<double> ms;
      for (int r = 0; r < runs; ++r) {
        const auto start = std::chrono::steady_clock::now();
        out = upscaler.run_y(y);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
      std::cout << nlohmann::json{{"runtime", "vdsr-cpp"}, {"size", std::stoi(key->text)}, {"threads", t}, {"ms", ms}}
                << std::endl;
      if (!save_output.empty() && key->text == "256") {
        at::Tensor o = at::from_blob(out.data.data(), {1, 1, y.height, y.width}, at::kDouble).div(255.0).to(at::kFloat);
        write_torch_state_dict(save_output, {{"output", o}});
      }
    }
  }
  return 0;
}
