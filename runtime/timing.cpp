#include "runtime/timing.h"

#include <algorithm>
#include <chrono>

namespace vdsr::runtime {

double time_ms(const std::function<void()>& call) {
  const auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::vector<double>> time_in_turns(const std::vector<Runner*>& runners, const Batch& x, int runs) {
  std::vector<std::vector<double>> ms(runners.size());
  for (int k = 0; k < runs; ++k) {
    for (size_t i = 0; i < runners.size(); ++i) ms[i].push_back(time_ms([&] { runners[i]->forward(x); }));
  }
  return ms;
}

nlohmann::json time_forward(Runner& runner, const Batch& x, int runs, int threads) {
  runner.forward(x);
  return latency_json(time_in_turns({&runner}, x, runs).front(), x.h, x.w, threads);
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

double median_ms(const nlohmann::json& latency) { return latency.at("latency_ms").at("median").get<double>(); }

}  // namespace vdsr::runtime
