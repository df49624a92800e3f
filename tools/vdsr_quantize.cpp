// vdsr-quantize: post-training int8 calibration of a VDSR; writes the scales file that
// `--precision int8 --int8-scales FILE` and the int8 ONNX export read (docs/quantization.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "compress/quantize.h"
#include "tools/cli/common.h"
#include "vdsr/inference.h"
#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"
#include "vdsr/util/files.h"

using namespace vdsr;

int main(int argc, char** argv) {
  CLI::App app{"Calibrate a VDSR for int8 inference: per-output-channel symmetric s8 weight scales and a\n"
               "per-tensor scale for each convolution's input (u8 after a ReLU), from the fp32 activations on\n"
               "training patches. The first and last layers stay fp32 unless --int8-layers says otherwise.\n\n"
               "Example: vdsr-quantize --data train.h5 --method percentile --out scales.json"};
  std::string model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string(), out = "scales.json";
  compress::QuantizeSettings s;
  std::vector<std::string> int8_names, fp32_names;
  app.add_option("--model", model, "checkpoint or PyTorch state dict (.pt)")->capture_default_str();
  app.add_option("--data", s.data, "calibration patches: a vdsr-data HDF5 file (docs/data.md)")->required();
  app.add_option("--patches", s.patches, "calibration patches, drawn at random without replacement")
      ->capture_default_str()
      ->check(cli::integer_at_least(1));
  app.add_option("--seed", s.seed, "which patches are drawn (same seed and count, same scales)")->capture_default_str();
  app.add_option("--method", s.method, "activation range: minmax (largest |x| seen) or percentile (of |x|)")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "percentile"}));
  app.add_option("--percentile", s.percentile, "for --method percentile: the percentile of |x| that maps to 255")
      ->capture_default_str()
      ->check(cli::number_in_half_open(0.0, 100.000001));
  app.add_option("--int8-layers", int8_names, "layers to run in int8 by module name (e.g. output), comma-separated")
      ->delimiter(',');
  app.add_option("--fp32-layers", fp32_names,
                 "layers to keep in fp32 by module name (e.g. residual_layer.0.conv); default: input and output")
      ->delimiter(',');
  app.add_option("--out", out, "the scales file (JSON) to write")->capture_default_str();
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads (default: all cores)")->check(cli::integer_at_least(1));

  return cli::run(app, argc, argv, [&] {
    s.int8_layers = cli::split_list(int8_names);
    s.fp32_layers = cli::split_list(fp32_names);
    check_output_folder(fs::absolute(out).parent_path(), "--out " + out);
    const int threads_used = configure_threads(threads);
    const Checkpoint checkpoint = load_checkpoint(model);
    spdlog::info("{}: depth {}; calibrating on {} patch(es) of {} ({}, seed {}, {} thread(s))", model,
                 checkpoint.architecture.depth(), s.patches, s.data, s.method, s.seed, threads_used);
    const Int8Scales scales = compress::calibrate_int8(checkpoint, weights_sha256(checkpoint.weights), s);
    write_int8_scales(out, scales);
    std::printf("| layer | runs in | input | input scale | weight scales (min .. max) |\n|---|---|---|---:|---|\n");
    for (const Int8Layer& l : scales.layers) {
      const auto [lo, hi] = std::minmax_element(l.weight_scales.begin(), l.weight_scales.end());
      std::printf("| %s | %s | %s | %.6g | %.4g .. %.4g |\n", l.name.c_str(), l.int8 ? "int8" : "fp32",
                  l.input_unsigned ? "u8" : "s8", l.input_scale, *lo, *hi);
    }
    spdlog::info("{} patch(es) used; scales written to {}", scales.patches, out);
    return 0;
  });
}
