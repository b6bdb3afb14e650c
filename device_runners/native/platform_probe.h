// What the runner learns from the operating system: the device block of a result, peak resident
// memory, and CPU affinity. Linux and Android only (both expose /proc); iOS has its own app.
#pragma once

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifdef __ANDROID__
#include <sys/system_properties.h>
#endif

#include "json.h"

namespace harness {

namespace probe_detail {

inline std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

inline std::string read_first_line(const char* path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return trim(line);
}

// The value of the first "key : value" line of /proc/cpuinfo whose key is `key`.
inline std::string cpuinfo_field(const std::string& key) {
  std::ifstream file("/proc/cpuinfo");
  std::string line;
  while (std::getline(file, line)) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos && trim(line.substr(0, colon)) == key) {
      return trim(line.substr(colon + 1));
    }
  }
  return "";
}

#ifdef __ANDROID__
inline std::string system_property(const char* name) {
  char value[PROP_VALUE_MAX] = {0};
  __system_property_get(name, value);
  return value;
}
#endif

}  // namespace probe_detail

// The contract's DeviceInfo for the machine this process runs on.
inline json::Value probe_device() {
  using namespace probe_detail;
  utsname names{};
  uname(&names);
  json::Value device = json::Value::object();
  device.set("device_id", "native");

  // x86 names the CPU in "model name"; ARM kernels give "Hardware" (older) or nothing useful.
  std::string cpu = cpuinfo_field("model name");
  if (cpu.empty()) cpu = cpuinfo_field("Hardware");
  if (cpu.empty()) cpu = names.machine;

#ifdef __ANDROID__
  // uname says "Linux" on Android too, so the platform comes from the compiler target.
  device.set("platform", "android");
  device.set("product_model", system_property("ro.product.model"));
  std::string soc = system_property("ro.soc.model");  // Android 12+
  if (soc.empty()) soc = system_property("ro.board.platform");
  device.set("soc", soc);
  device.set("cpu", cpu);
  device.set("os_version", "Android " + system_property("ro.build.version.release") +
                               " (kernel " + names.release + ")");
  device.set("kind", "android");
#else
  std::string platform = names.sysname;
  for (char& c : platform) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  device.set("platform", platform);
  // Readable without root on most Linux machines; empty in many containers.
  device.set("product_model", read_first_line("/sys/devices/virtual/dmi/id/product_name"));
  device.set("soc", "");
  device.set("cpu", cpu);
  device.set("os_version", names.release);
  device.set("kind", "host");
#endif
  device.set("cpu_count", static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  return device;
}

inline std::string machine_arch() {
  utsname names{};
  uname(&names);
  return names.machine;
}

// Resident-memory figures from /proc/self/status, in kB, read in one pass so they are consistent.
struct MemoryStatus {
  std::optional<int64_t> rss_kb;   // VmRSS: resident now
  std::optional<int64_t> hwm_kb;   // VmHWM: peak resident since start or the last reset
  std::optional<int64_t> threads;  // Threads: the process's threads now (a count, not kB)
};

inline MemoryStatus read_memory_status() {
  MemoryStatus status;
  std::ifstream file("/proc/self/status");
  std::string line;
  while (std::getline(file, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kb = 0;
    if (!(fields >> key >> kb)) continue;
    if (key == "VmRSS:") status.rss_kb = kb;
    if (key == "VmHWM:") status.hwm_kb = kb;
    if (key == "Threads:") status.threads = kb;
  }
  return status;
}

// Resets VmHWM to the current RSS so the next phase's peak is its own. Writing "5" to
// /proc/self/clear_refs does exactly that (Linux >= 4.0); a sandbox may forbid the write.
// Returns "" when the reset took effect, else why not.
inline std::string reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (!clear_refs) return std::string("cannot open /proc/self/clear_refs: ") + std::strerror(errno);
  clear_refs << "5";
  clear_refs.flush();
  if (!clear_refs) {
    return std::string("writing /proc/self/clear_refs failed: ") + std::strerror(errno);
  }
  clear_refs.close();
  // After a reset the peak equals the current RSS; allow a few pages for the read itself.
  const MemoryStatus after = read_memory_status();
  if (!after.rss_kb || !after.hwm_kb) return "VmRSS/VmHWM missing from /proc/self/status";
  if (*after.hwm_kb > *after.rss_kb + 256) {
    return "VmHWM did not drop after writing /proc/self/clear_refs";
  }
  return "";
}

// Pins this thread (and so every thread it creates later, such as the thread pool's) to `cpus`.
// Returns "" on success, else the reason.
inline std::string apply_cpu_affinity(const std::vector<int64_t>& cpus) {
  if (cpus.empty()) return "cpu_affinity is empty";
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int64_t cpu : cpus) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return "cpu " + std::to_string(cpu) + " is out of range";
    CPU_SET(static_cast<int>(cpu), &set);
  }
  if (sched_setaffinity(0, sizeof(set), &set) != 0) return std::strerror(errno);
  return "";
}

// The CPUs this thread may run on, for the result's context.
inline std::vector<int64_t> current_cpu_affinity() {
  std::vector<int64_t> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

}  // namespace harness
