// harness_runner: measures one ExecuTorch .pte as the runner contract describes
// (device_runners/contract.py): cold load, first inference, warm-up, then timed iterations until
// both the iteration and duration minimums are met, every sample kept; peak resident memory of
// the load and of the inference phase. Statistics are the harness's job, never the runner's.
//
//   harness_runner --request req.json [--result out.json] [--etdump out.etdump]
//
// Exit codes: 0 a result was written (status ok or run_failed alike), 2 the request or the
// command line is bad (one line on stderr, no result), 1 the result could not be written.

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/platform/runtime.h>

#if defined(HARNESS_HAVE_ETDUMP) && defined(ET_EVENT_TRACER_ENABLED)
#include <executorch/devtools/etdump/etdump_flatcc.h>
#define HARNESS_CAN_PROFILE 1
#endif

#include "json.h"
#include "platform_probe.h"
#include "run_request.h"
#include "threadpool_control.h"

#ifndef HARNESS_EXECUTORCH_VERSION
#define HARNESS_EXECUTORCH_VERSION ""
#endif

namespace harness {
namespace {

using executorch::extension::Module;
using executorch::runtime::Error;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: harness_runner --request REQUEST.json [--result RESULT.json] [--etdump OUT.etdump]";

// Iterations of the separate profiling pass (request.profile). Enough for per-operator medians;
// kept out of the timed samples because the event tracer adds its own overhead.
constexpr int kProfileIterations = 10;

double ms_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string describe(Error error) {
  char code[16];
  std::snprintf(code, sizeof(code), "0x%x", static_cast<unsigned>(error));
  return std::string(executorch::runtime::to_string(error)) + " (" + code + ")";
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Seeded inputs that are the same on every platform: mt19937_64's output is fixed by the standard,
// while std::uniform_real_distribution's is not (libstdc++ and Android's libc++ differ).
std::vector<float> seeded_uniform_inputs(const std::vector<int64_t>& shape, int64_t seed) {
  size_t count = 1;
  for (const int64_t d : shape) count *= static_cast<size_t>(d);
  std::mt19937_64 generator(static_cast<uint64_t>(seed));
  std::vector<float> data(count);
  for (float& x : data) {
    const double unit = static_cast<double>(generator() >> 11) * 0x1.0p-53;  // [0, 1)
    x = static_cast<float>(2.0 * unit - 1.0);                                // [-1, 1)
  }
  return data;
}

// Fails early, with the shapes in the message, when the request does not fit the model's one
// float input; the runtime's own error for this is a bare code.
std::string check_model_input(Module& module, const std::vector<int64_t>& shape) {
  auto meta = module.method_meta("forward");
  if (!meta.ok()) return "reading the forward method's metadata failed: " + describe(meta.error());
  if (meta->num_inputs() != 1) {
    return "the model takes " + std::to_string(meta->num_inputs()) +
           " inputs; this runner feeds exactly one tensor";
  }
  auto info = meta->input_tensor_meta(0);
  if (!info.ok()) return "the model's input is not a tensor: " + describe(info.error());
  if (info->scalar_type() != executorch::aten::ScalarType::Float) {
    return std::string("the model's input is ") +
           executorch::runtime::toString(info->scalar_type()) + ", but this runner feeds float32";
  }
  std::vector<int64_t> model_shape(info->sizes().begin(), info->sizes().end());
  bool fits = model_shape.size() == shape.size();
  // A dynamic-shape input records its upper bounds, so smaller sizes are accepted.
  for (size_t i = 0; fits && i < shape.size(); ++i) fits = shape[i] <= model_shape[i];
  if (!fits) {
    return "input_shape " + shape_text(shape) + " does not match the model's input " +
           shape_text(model_shape);
  }
  return "";
}

json::Value describe_outputs(const std::vector<executorch::runtime::EValue>& outputs) {
  json::Value described = json::Value::array();
  for (const auto& output : outputs) {
    json::Value entry = json::Value::object();
    if (!output.isTensor()) {
      entry.set("kind", "non-tensor");
      described.push_back(entry);
      continue;
    }
    const auto& tensor = output.toTensor();
    entry.set("shape", json::Value::array_of(
                           std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end())));
    entry.set("dtype", executorch::runtime::toString(tensor.scalar_type()));
    // A checksum to catch garbage (NaN, all zeros) without storing the output.
    if (tensor.scalar_type() == executorch::aten::ScalarType::Float) {
      double sum = 0.0;
      const float* data = tensor.const_data_ptr<float>();
      for (ssize_t i = 0; i < tensor.numel(); ++i) sum += data[i];
      entry.set("sum", sum);
    }
    described.push_back(entry);
  }
  return described;
}

// Everything a run measured, ok or not; a failure keeps whatever was measured before it.
struct Measurement {
  std::string status = "ok";
  std::string error;
  std::optional<double> load_ms;
  std::optional<double> first_inference_ms;
  std::vector<double> warmup_samples_ms;
  std::vector<double> samples_ms;
  std::optional<int64_t> peak_rss_load_kb;
  std::optional<int64_t> peak_rss_inference_kb;
  json::Value context = json::Value::object();
  json::Value check_outputs = json::Value::array();

  Measurement& fail(const std::string& why, const char* status_value = "run_failed") {
    status = status_value;
    error = why;
    return *this;
  }
};

bool file_exists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

json::Value profiling_outcome(const char* status, const std::string& reason) {
  json::Value outcome = json::Value::object();
  outcome.set("status", status);
  outcome.set("reason", reason);
  return outcome;
}

// A second, separate pass with ETDump attached: per-operator (and per-delegate-call) timings,
// written as an .etdump file that executorch.devtools.Inspector reads.
json::Value profile_with_etdump(const RunRequest& request,
                                const std::vector<executorch::runtime::EValue>& inputs,
                                const std::string& etdump_path) {
#if defined(HARNESS_CAN_PROFILE)
  auto tracer = std::make_unique<executorch::etdump::ETDumpGen>();
  executorch::etdump::ETDumpGen* etdump = tracer.get();
  Module module(request.artifact_path, Module::LoadMode::File, std::move(tracer));
  if (const Error e = module.load_method("forward"); e != Error::Ok) {
    return profiling_outcome("failed", "load_method with ETDump failed: " + describe(e));
  }
  for (int i = 0; i < kProfileIterations; ++i) {
    if (auto out = module.forward(inputs); !out.ok()) {
      return profiling_outcome("failed", "forward with ETDump failed: " + describe(out.error()));
    }
  }
  const executorch::etdump::ETDumpResult dump = etdump->get_etdump_data();
  if (dump.buf == nullptr || dump.size == 0) {
    return profiling_outcome("failed", "ETDump recorded no data");
  }
  std::ofstream file(etdump_path, std::ios::binary);
  file.write(static_cast<const char*>(dump.buf), static_cast<std::streamsize>(dump.size));
  file.close();
  std::free(dump.buf);  // ETDumpGen allocates the flatbuffer with malloc when given no buffer
  if (!file) return profiling_outcome("failed", "could not write " + etdump_path);

  json::Value profiling = json::Value::object();
  profiling.set("status", "ok");
  profiling.set("etdump_path", etdump_path);
  profiling.set("etdump_bytes", static_cast<int64_t>(dump.size));
  profiling.set("iterations", kProfileIterations);
  return profiling;
#else
  (void)request;
  (void)inputs;
  (void)etdump_path;
  return profiling_outcome("unavailable",
                           "this runner was built without ETDump (the ExecuTorch build lacks the "
                           "etdump library or ET_EVENT_TRACER_ENABLED)");
#endif
}

// Pins the process and sizes the thread pool; both must happen before the model is loaded.
bool prepare_process(const RunRequest& request, Measurement& m) {
  // Affinity first: threads created afterwards (the thread pool's) inherit this thread's mask.
  if (request.cpu_affinity) {
    if (const std::string why = apply_cpu_affinity(*request.cpu_affinity); !why.empty()) {
      m.fail("cpu_affinity " + shape_text(*request.cpu_affinity) + " could not be applied: " + why);
      return false;
    }
  }
  m.context.set("cpu_affinity_effective", json::Value::array_of(current_cpu_affinity()));
  if (const std::string why = set_thread_count(request.threads); !why.empty()) {
    m.fail(why);
    return false;
  }
  m.context.set("thread_pool_size", thread_pool_size());
  return true;
}

// Load phase: Module construction + program load + load_method("forward"), timed, with its own
// peak resident memory. Returns nullptr (and records why) on failure.
std::unique_ptr<Module> load_model(const RunRequest& request, Measurement& m) {
  const std::string reset = reset_peak_rss();
  m.context.set("peak_rss_reset", reset.empty() ? "ok" : "failed: " + reset);
  if (const auto before = read_memory_status(); before.rss_kb) {
    m.context.set("rss_before_load_kb", *before.rss_kb);
  }
  const auto start = Clock::now();
  auto module = std::make_unique<Module>(request.artifact_path, Module::LoadMode::File);
  const Error program_error = module->load();
  const auto program_loaded = Clock::now();
  if (program_error != Error::Ok) {
    m.fail("loading the program " + request.artifact_path + " failed: " + describe(program_error));
    return nullptr;
  }
  const Error method_error = module->load_method("forward");
  const auto end = Clock::now();
  if (method_error != Error::Ok) {
    m.fail("load_method(\"forward\") failed: " + describe(method_error));
    return nullptr;
  }
  m.load_ms = ms_between(start, end);
  m.context.set("program_load_ms", ms_between(start, program_loaded));
  m.context.set("method_load_ms", ms_between(program_loaded, end));
  m.peak_rss_load_kb = read_memory_status().hwm_kb;
  return module;
}

// The settle rule of device_runners/timing.py: the median of the last kSettleWindow warm-up
// samples within kSettleTolerance of the median of the kSettleWindow before them.
constexpr size_t kSettleWindow = 10;
constexpr double kSettleTolerance = 0.02;
constexpr double kSettleMaxS = 10.0;

double window_median(std::vector<double>::const_iterator begin) {
  std::vector<double> window(begin, begin + kSettleWindow);
  std::nth_element(window.begin(), window.begin() + kSettleWindow / 2, window.end());
  return window[kSettleWindow / 2];
}

bool warmup_settled(const std::vector<double>& samples) {
  if (samples.size() < 2 * kSettleWindow) return false;
  const double last = window_median(samples.end() - kSettleWindow);
  const double before = window_median(samples.end() - 2 * kSettleWindow);
  return std::fabs(last - before) <= kSettleTolerance * before;
}

// Inference phase: first inference, warm-up, then timed iterations until both minimums are met
// (bounded by the maximums), with its own peak resident memory. Returns false on failure.
bool time_inference(const RunRequest& request, Module& module,
                    const std::vector<executorch::runtime::EValue>& inputs, Measurement& m) {
  if (const std::string reset = reset_peak_rss(); !reset.empty()) {
    m.context.set("peak_rss_reset", "failed: " + reset);
  }
  auto start = Clock::now();
  auto first = module.forward(inputs);
  m.first_inference_ms = ms_between(start, Clock::now());
  if (!first.ok()) {
    m.fail("the first inference failed: " + describe(first.error()));
    return false;
  }
  m.context.set("outputs", describe_outputs(*first));

  // Warm-up by count, or (warmup_until_settled) on until the median of the last kSettleWindow
  // iterations is within kSettleTolerance of the window before, as device_runners/timing.py
  // does, bounded by max_iterations and min(kSettleMaxS, max_duration_s).
  const bool settle = request.warmup_until_settled;
  const double settle_max_s = std::min(kSettleMaxS, request.max_duration_s);
  const auto warmup_start = Clock::now();
  bool settled = false;
  while (true) {
    const auto done = static_cast<int64_t>(m.warmup_samples_ms.size());
    if (!settle && done >= request.warmup_iterations) break;
    if (settle && done >= request.warmup_iterations && warmup_settled(m.warmup_samples_ms)) {
      settled = true;
      break;
    }
    if (settle && (done >= request.max_iterations ||
                   ms_between(warmup_start, Clock::now()) / 1000.0 >= settle_max_s)) {
      break;
    }
    start = Clock::now();
    auto out = module.forward(inputs);
    m.warmup_samples_ms.push_back(ms_between(start, Clock::now()));
    if (!out.ok()) {
      m.fail("warm-up inference failed: " + describe(out.error()));
      return false;
    }
  }
  json::Value warmup = json::Value::object();
  warmup.set("mode", settle ? "settle" : "count");
  warmup.set("iterations", static_cast<int64_t>(m.warmup_samples_ms.size()));
  if (settle) warmup.set("settled", settled);
  m.context.set("warmup", warmup);

  // The runtime's own threads show whether it kept to the requested thread count.
  if (const auto threads = read_memory_status().threads) m.context.set("process_threads", *threads);

  // At least one timed sample is always taken, since a result with status ok must carry one.
  m.samples_ms.reserve(static_cast<size_t>(std::min<int64_t>(request.max_iterations, 1 << 20)));
  // Wall-clock times around the loop, for readings taken outside this process (a phone's
  // battery monitor on the host); the samples themselves use the monotonic clock.
  m.context.set("timed_start_unix", unix_seconds());
  const auto timed_start = Clock::now();
  const char* stop_reason = "";
  while (true) {
    const double elapsed_s = ms_between(timed_start, Clock::now()) / 1000.0;
    const auto done = static_cast<int64_t>(m.samples_ms.size());
    if (done >= request.max_iterations) {
      stop_reason = "max_iterations";
      break;
    }
    if (done >= request.min_iterations && elapsed_s >= request.min_duration_s) {
      stop_reason = "minimums_met";
      break;
    }
    if (done >= 1 && elapsed_s >= request.max_duration_s) {
      stop_reason = "max_duration_s";
      break;
    }
    start = Clock::now();
    auto out = module.forward(inputs);
    m.samples_ms.push_back(ms_between(start, Clock::now()));
    if (!out.ok()) {
      m.fail("timed inference failed: " + describe(out.error()));
      return false;
    }
  }
  m.context.set("timed_duration_s", ms_between(timed_start, Clock::now()) / 1000.0);
  m.context.set("timed_end_unix", unix_seconds());
  m.context.set("timed_stop_reason", stop_reason);
  m.peak_rss_inference_kb = read_memory_status().hwm_kb;
  return true;
}

// The model's first output for each check input (a file of raw little-endian float32 tensors
// of input_shape), into m.check_outputs; returns why it could not, or "".
std::string run_checks(const RunRequest& request, Module& module, Measurement& m) {
  std::ifstream file(request.check_inputs_path, std::ios::binary);
  if (!file) return "cannot read the check inputs " + request.check_inputs_path;
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  size_t per_input = 1;
  for (int64_t d : request.input_shape) per_input *= static_cast<size_t>(d);
  const size_t floats = bytes.size() / sizeof(float);
  if (bytes.size() % sizeof(float) != 0 || floats == 0 || floats % per_input != 0) {
    return "the check inputs hold " + std::to_string(bytes.size()) +
           " bytes, not whole float32 inputs of shape " + shape_text(request.input_shape);
  }
  for (size_t offset = 0; offset < floats; offset += per_input) {
    std::vector<float> values(per_input);
    std::memcpy(values.data(), bytes.data() + offset * sizeof(float), per_input * sizeof(float));
    const auto input = executorch::extension::make_tensor_ptr(
        std::vector<executorch::aten::SizesType>(request.input_shape.begin(),
                                                 request.input_shape.end()),
        std::move(values));
    auto out = module.forward({executorch::runtime::EValue(*input)});
    if (!out.ok()) return "a check inference failed: " + describe(out.error());
    if (out->empty() || !(*out)[0].isTensor()) return "the model's first output is not a tensor";
    const auto& tensor = (*out)[0].toTensor();
    if (tensor.scalar_type() != executorch::aten::ScalarType::Float) {
      return std::string("the model's first output is ") +
             executorch::runtime::toString(tensor.scalar_type()) + ", not float32";
    }
    const float* data = tensor.const_data_ptr<float>();
    json::Value output = json::Value::object();
    output.set("shape", json::Value::array_of(
                            std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end())));
    output.set("values", json::Value::array_of(std::vector<double>(data, data + tensor.numel())));
    m.check_outputs.push_back(output);
  }
  return "";
}

Measurement measure(const RunRequest& request, const std::string& etdump_path) {
  Measurement m;
  m.context.set("runner", "harness_runner");
  m.context.set("pid", static_cast<int64_t>(getpid()));
  m.context.set("arch", machine_arch());
  m.context.set("load_mode", "file");
  m.context.set("clock", "steady_clock");

  // Dispatch on the runtime the request names, never on the format: every ExecuTorch format
  // (XNNPACK fp32 or int8, portable kernels) is a .pte this runner loads the same way.
  if (request.runtime != "executorch") {
    return m.fail("harness_runner runs the executorch runtime only, not '" + request.runtime +
                      "' (format " + request.format + ")",
                  "unsupported");
  }
  if (!prepare_process(request, m)) return m;
  if (!file_exists(request.artifact_path)) {
    return m.fail("artifact not found: " + request.artifact_path);
  }

  // The input is built before the memory baseline so that it counts in neither phase's peak.
  const auto input = executorch::extension::make_tensor_ptr(
      std::vector<executorch::aten::SizesType>(request.input_shape.begin(),
                                               request.input_shape.end()),
      seeded_uniform_inputs(request.input_shape, request.seed));
  const std::vector<executorch::runtime::EValue> inputs{executorch::runtime::EValue(*input)};
  json::Value input_info = json::Value::object();
  input_info.set("shape", json::Value::array_of(request.input_shape));
  input_info.set("dtype", "float32");
  input_info.set("distribution", "uniform[-1,1) from mt19937_64");
  input_info.set("seed", request.seed);
  m.context.set("input", input_info);

  std::unique_ptr<Module> module = load_model(request, m);
  if (!module) return m;
  if (const std::string why = check_model_input(*module, request.input_shape); !why.empty()) {
    return m.fail(why);
  }
  if (!time_inference(request, *module, inputs, m)) return m;
  // After the timed loop, so neither the first inference nor the samples are disturbed.
  if (!request.check_inputs_path.empty()) {
    if (const std::string why = run_checks(request, *module, m); !why.empty()) {
      m.context.set("check_error", why);
    }
  }

  if (request.profile) {
    module.reset();  // one copy of the model in memory at a time
    m.context.set("profiling", profile_with_etdump(request, inputs, etdump_path));
  }
  return m;
}

json::Value optional_number(const std::optional<double>& v) {
  return v ? json::Value(*v) : json::Value();
}

json::Value optional_integer(const std::optional<int64_t>& v) {
  return v ? json::Value(*v) : json::Value();
}

// The contract's RunResult, field for field.
json::Value build_result(const RunRequest& request, const Measurement& m) {
  json::Value result = json::Value::object();
  result.set("schema_version", kSchemaVersion);
  result.set("model", request.model);
  result.set("format", request.format);
  result.set("runtime", request.runtime);
  result.set("status", m.status);
  result.set("device", probe_device());
  result.set("backend", request.backend);
  result.set("precision", request.precision);
  result.set("artifact_sha256", request.artifact_sha256);
  json::Value versions = json::Value::object();
  // The version of the ExecuTorch package this binary was compiled against; empty when the
  // build could not tell, and then the caller fills it in.
  if (std::strlen(HARNESS_EXECUTORCH_VERSION) > 0) {
    versions.set("executorch", HARNESS_EXECUTORCH_VERSION);
  }
  result.set("runtime_versions", versions);
  result.set("threads", request.threads);
  result.set("cpu_affinity",
             request.cpu_affinity ? json::Value::array_of(*request.cpu_affinity) : json::Value());
  result.set("load_ms", optional_number(m.load_ms));
  result.set("first_inference_ms", optional_number(m.first_inference_ms));
  result.set("warmup_samples_ms", json::Value::array_of(m.warmup_samples_ms));
  result.set("samples_ms", json::Value::array_of(m.samples_ms));
  result.set("peak_rss_load_kb", optional_integer(m.peak_rss_load_kb));
  result.set("peak_rss_inference_kb", optional_integer(m.peak_rss_inference_kb));
  json::Value energy = json::Value::object();
  energy.set("source", "none");  // the harness measures energy around the runner, if at all
  result.set("energy", energy);
  result.set("energy_samples", json::Value::object());
  json::Value thermal = json::Value::object();
  thermal.set("before", "unknown");
  thermal.set("after", "unknown");
  result.set("thermal", thermal);
  result.set("context", m.context);
  result.set("error", m.error);
  result.set("check_outputs", m.check_outputs);
  return result;
}

// Writes through a temporary file and a rename, so a killed runner never leaves half a result.
bool write_result(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << "\n";
    return static_cast<bool>(std::cout.flush());
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << text << "\n";
    if (!file.flush()) return false;
  }
  return std::rename(temporary.c_str(), path.c_str()) == 0;
}

struct Arguments {
  std::string request_path;
  std::string result_path = "-";
  std::string etdump_path;
};

// Returns false (after printing one line) when the command line is unusable.
bool parse_arguments(int argc, char** argv, Arguments& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage << "\n";
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::cerr << "harness_runner: " << flag << " needs a value; " << kUsage << "\n";
      return false;
    }
    const std::string value = argv[++i];
    if (flag == "--request") {
      args.request_path = value;
    } else if (flag == "--result") {
      args.result_path = value;
    } else if (flag == "--etdump") {
      args.etdump_path = value;
    } else {
      std::cerr << "harness_runner: unknown option " << flag << "; " << kUsage << "\n";
      return false;
    }
  }
  if (args.request_path.empty()) {
    std::cerr << "harness_runner: --request is required; " << kUsage << "\n";
    return false;
  }
  if (args.etdump_path.empty()) {
    // Beside the result by default, so one directory holds a run's files.
    args.etdump_path =
        args.result_path == "-" ? "harness_runner.etdump" : args.result_path + ".etdump";
  }
  return true;
}

}  // namespace
}  // namespace harness

int main(int argc, char** argv) {
  using namespace harness;
  Arguments args;
  if (!parse_arguments(argc, argv, args)) return 2;

  std::ifstream file(args.request_path, std::ios::binary);
  if (!file) {
    std::cerr << "harness_runner: bad request: cannot read " << args.request_path << ": "
              << std::strerror(errno) << "\n";
    return 2;
  }
  std::stringstream text;
  text << file.rdbuf();

  RunRequest request;
  try {
    request = parse_run_request(json::parse(text.str()));
  } catch (const json::ParseError& e) {
    std::cerr << "harness_runner: bad request: " << args.request_path << " is not valid JSON: "
              << e.what() << "\n";
    return 2;
  } catch (const BadRequest& e) {
    std::cerr << "harness_runner: bad request: " << args.request_path << ": " << e.what() << "\n";
    return 2;
  }

  executorch::runtime::runtime_init();
  Measurement measurement;
  try {
    measurement = measure(request, args.etdump_path);
  } catch (const std::exception& e) {
    // Nothing in ExecuTorch throws by design, but std::bad_alloc can; report it as a result.
    measurement.fail(std::string("unexpected exception: ") + e.what());
  }

  if (!write_result(args.result_path, json::dump(build_result(request, measurement)))) {
    std::cerr << "harness_runner: cannot write the result to " << args.result_path << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  return 0;
}
