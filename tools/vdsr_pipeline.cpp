// vdsr-pipeline: the whole study in one command — original model → eval → prune → tune → fine-tune with the
// best parameters → ONNX export → (bench) → report tables, into experiments/<name>/, resumable.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "pipeline/pipeline.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "vdsr/util/error.h"

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

// The folder of this executable: the other vdsr-* tools are built next to it.
fs::path own_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Run the VDSR compression study end to end: evaluate the original model, prune it (configs/prune.json),\n"
      "tune the fine-tuning hyper-parameters (configs/experiment.json), fine-tune with the best ones, export\n"
      "ONNX, benchmark (when vdsr-bench is built) and write comparison tables, all into experiments/<name>/.\n"
      "Stages whose command and inputs are unchanged since they last finished are skipped, so running the\n"
      "same command again after a crash, Ctrl-C or an edit continues where it stopped (docs/pipeline.md).\n"
      "Stages: data, eval, prune, tune, train, export, bench, report (with --bootstrap: split, data,\n"
      "bootstrap, ...). Exit codes: 0 done, 1 a stage failed, 2 bad input or missing assets, 130 stopped.\n"
      "  vdsr-pipeline --quick            # a few minutes: tiny budgets, Set5 only\n"
      "  vdsr-pipeline                    # the default profile (about 45 min on 2 cores)\n"
      "  vdsr-pipeline --from tune        # redo tuning and everything after it\n"
      "  vdsr-pipeline --bootstrap photos/  # no reference model/assets: bootstrap one from your images"};
  vdsr::pipeline::Options o;
  std::string config = "configs/pipeline.json", bin, profile;
  bool quick = false;
  app.add_option("--config", config, "pipeline config: stages, profiles, assets")->capture_default_str();
  app.add_flag("--quick", quick, "use the \"quick\" profile (a few minutes; same as --profile quick)");
  app.add_option("--profile", profile, "profile of the config to use (default: default)");
  app.add_option("--name", o.name, "experiment name: results go to experiments/NAME (default: the profile's)");
  app.add_option("--from", o.from, "run this stage and every later one even if unchanged");
  app.add_option("--only", o.only, "run only this stage (its inputs must exist)")->excludes("--from");
  app.add_flag("--dry-run", o.dry_run, "print which stages would run or be skipped, and their commands");
  app.add_option("--bootstrap", o.bootstrap, "no reference model: train a small VDSR from the images in DIR and "
                                             "use it as the original (a few held out for evaluation)");
  app.add_option("--threads", o.threads, "CPU threads for each tool (default: all cores)")
      ->check(vdsr::cli::integer_at_least(1));
  app.add_option("--bin", bin, "folder of the vdsr-* tools (default: this program's folder)");
  vdsr::cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);

  return vdsr::cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    if (quick && !profile.empty() && profile != "quick") throw vdsr::Error("--quick and --profile " + profile);
    o.profile = quick ? "quick" : profile.empty() ? "default" : profile;
    o.config = config;
    o.root = fs::current_path();
    o.bin = fs::absolute(bin.empty() ? own_dir() : fs::path(bin)).lexically_normal();
    const char* assets = std::getenv("VDSR_ASSETS");
    o.assets = fs::absolute(assets && *assets ? fs::path(assets) : o.root / ".." / "shared" / "assets").lexically_normal();
    if (o.threads < 0) throw vdsr::Error("--threads: expected a positive integer");
    if (!o.bootstrap.empty() && !fs::is_directory(o.bootstrap)) {
      throw vdsr::Error("--bootstrap: '" + o.bootstrap.string() + "' is not a folder");
    }
    o.progress = vdsr::default_progress_mode();
    o.stop = &g_stop;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return vdsr::pipeline::run(o);
  });
}
