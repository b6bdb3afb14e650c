// The RunRequest half of the runner contract, read from JSON and checked the way
// device_runners/contract.schema.json and RunRequest.__post_init__ check it.
//
// A request that breaks the contract is the caller's bug, not a measurement outcome, so it raises
// BadRequest (the runner exits with code 2 and writes no result) rather than producing a
// run_failed result.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "json.h"

namespace harness {

// Must match SCHEMA_VERSION in device_runners/contract.py.
constexpr int kSchemaVersion = 3;

class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunRequest {
  std::string model;
  std::string format;
  std::string runtime;  // which runtime runs the artifact; this runner runs "executorch"
  std::string artifact_path;
  std::string artifact_sha256;
  std::vector<int64_t> input_shape;
  int64_t threads = 1;
  std::optional<std::vector<int64_t>> cpu_affinity;
  int64_t warmup_iterations = 10;
  // Warm up until the running median settles (device_runners/timing.py has the rule);
  // warmup_iterations is then the minimum count.
  bool warmup_until_settled = false;
  int64_t min_iterations = 50;
  double min_duration_s = 2.0;
  int64_t max_iterations = 100000;
  double max_duration_s = 120.0;
  int64_t seed = 0;
  double timeout_s = 600.0;
  std::string backend;
  std::string precision = "fp32";
  bool profile = false;
  // Raw little-endian float32 tensors of input_shape, back to back, to run once after timing
  // and return the outputs of (contract version 3); empty: none.
  std::string check_inputs_path;
};

namespace request_detail {

inline const json::Value& required(const json::Value& object, const char* key) {
  const json::Value* v = object.find(key);
  if (v == nullptr) throw BadRequest(std::string("missing required field '") + key + "'");
  return *v;
}

inline std::string string_field(const json::Value& v, const char* key, bool non_empty) {
  if (!v.is_string()) throw BadRequest(std::string("field '") + key + "' must be a string");
  if (non_empty && v.as_string().empty()) {
    throw BadRequest(std::string("field '") + key + "' must not be empty");
  }
  return v.as_string();
}

inline int64_t integer_field(const json::Value& v, const char* key, int64_t minimum) {
  // 2^62 keeps the cast below well defined; no count or seed in a request comes close.
  if (!v.is_integer() || std::fabs(v.as_number()) > 4.6e18) {
    throw BadRequest(std::string("field '") + key + "' must be an integer");
  }
  const auto value = static_cast<int64_t>(v.as_number());
  if (value < minimum) {
    throw BadRequest(std::string("field '") + key + "' must be >= " + std::to_string(minimum) +
                     ", got " + std::to_string(value));
  }
  return value;
}

inline double number_field(const json::Value& v, const char* key) {
  if (!v.is_number()) throw BadRequest(std::string("field '") + key + "' must be a number");
  if (v.as_number() < 0) throw BadRequest(std::string("field '") + key + "' must be >= 0");
  return v.as_number();
}

inline std::vector<int64_t> integer_list(const json::Value& v, const char* key, int64_t minimum) {
  if (!v.is_array()) throw BadRequest(std::string("field '") + key + "' must be an array");
  std::vector<int64_t> out;
  for (const json::Value& item : v.items()) out.push_back(integer_field(item, key, minimum));
  return out;
}

}  // namespace request_detail

// Reads a request from a parsed JSON document; throws BadRequest with one sentence on any
// violation. Unknown fields are ignored, as the schema allows them.
inline RunRequest parse_run_request(const json::Value& doc) {
  using namespace request_detail;
  if (!doc.is_object()) throw BadRequest("the request must be a JSON object");

  const json::Value& version = required(doc, "schema_version");
  if (!version.is_integer() || version.as_number() != kSchemaVersion) {
    throw BadRequest("schema_version must be " + std::to_string(kSchemaVersion) +
                     " (this runner speaks contract version " + std::to_string(kSchemaVersion) +
                     ")");
  }

  RunRequest r;
  r.model = string_field(required(doc, "model"), "model", true);
  r.format = string_field(required(doc, "format"), "format", true);
  r.runtime = string_field(required(doc, "runtime"), "runtime", true);
  r.artifact_path = string_field(required(doc, "artifact_path"), "artifact_path", true);
  r.artifact_sha256 = string_field(required(doc, "artifact_sha256"), "artifact_sha256", false);
  r.input_shape = integer_list(required(doc, "input_shape"), "input_shape", 1);
  if (r.input_shape.empty()) throw BadRequest("field 'input_shape' must not be empty");
  r.threads = integer_field(required(doc, "threads"), "threads", 1);
  r.warmup_iterations = integer_field(required(doc, "warmup_iterations"), "warmup_iterations", 0);
  r.min_iterations = integer_field(required(doc, "min_iterations"), "min_iterations", 1);
  r.min_duration_s = number_field(required(doc, "min_duration_s"), "min_duration_s");
  r.max_iterations = integer_field(required(doc, "max_iterations"), "max_iterations", 1);

  if (const json::Value* v = doc.find("cpu_affinity"); v && !v->is_null()) {
    r.cpu_affinity = integer_list(*v, "cpu_affinity", 0);
  }
  if (const json::Value* v = doc.find("max_duration_s")) {
    r.max_duration_s = number_field(*v, "max_duration_s");
  }
  if (const json::Value* v = doc.find("seed")) {
    r.seed = integer_field(*v, "seed", INT64_MIN);
  }
  if (const json::Value* v = doc.find("timeout_s")) {
    r.timeout_s = number_field(*v, "timeout_s");
    if (r.timeout_s <= 0) throw BadRequest("field 'timeout_s' must be > 0");
  }
  if (const json::Value* v = doc.find("backend")) r.backend = string_field(*v, "backend", false);
  if (const json::Value* v = doc.find("precision")) {
    r.precision = string_field(*v, "precision", false);
  }
  if (const json::Value* v = doc.find("warmup_until_settled")) {
    if (!v->is_bool()) throw BadRequest("field 'warmup_until_settled' must be true or false");
    r.warmup_until_settled = v->as_bool();
  }
  if (const json::Value* v = doc.find("check_inputs_path")) {
    r.check_inputs_path = string_field(*v, "check_inputs_path", false);
  }
  if (const json::Value* v = doc.find("profile")) {
    if (!v->is_bool()) throw BadRequest("field 'profile' must be true or false");
    r.profile = v->as_bool();
  }

  // The cross-field rules of RunRequest.__post_init__.
  if (r.max_iterations < r.min_iterations) {
    throw BadRequest("max_iterations must be >= min_iterations");
  }
  if (r.max_duration_s < r.min_duration_s) {
    throw BadRequest("max_duration_s must be >= min_duration_s");
  }
  return r;
}

}  // namespace harness
