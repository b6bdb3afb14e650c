// Sizing ExecuTorch's shared thread pool, which the XNNPACK delegate and the optimized CPU
// kernels run on.
//
// The XNNPACK delegate takes the pool's pthreadpool when a method is loaded and keeps it, so the
// pool must be sized before load_method; resizing later would leave the delegate pointing at a
// destroyed pool. That is why set_thread_count() runs before the Module is created.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#if defined(HARNESS_HAVE_THREADPOOL)
#if __has_include(<executorch/extension/threadpool/threadpool.h>) && __has_include(<pthreadpool.h>)
// A source install (e.g. the Android build) ships the real header and pthreadpool's.
#include <executorch/extension/threadpool/threadpool.h>
#else
// The wheel ships libexecutorch_threadpool.so but not threadpool.h, because that header includes
// pthreadpool.h, which the wheel does not carry. Declare the two non-virtual members we call,
// with the library's exact signatures: calls bind by mangled name and never touch the object's
// layout, which this declaration deliberately leaves out.
namespace executorch::extension::threadpool {
class ThreadPool final {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool
#endif
#endif

namespace harness {

// Resizes the shared pool to `threads`; returns "" on success, else the reason.
inline std::string set_thread_count(int64_t threads) {
#if defined(HARNESS_HAVE_THREADPOOL)
  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  if (pool == nullptr) return "ExecuTorch returned no thread pool";
  // The only public way to size the pool; ExecuTorch marks it deprecated-experimental.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const bool ok = pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads));
#pragma GCC diagnostic pop
  if (!ok) return "resizing the ExecuTorch thread pool to " + std::to_string(threads) + " failed";
  return "";
#else
  // Without the pool every kernel and delegate runs on the calling thread.
  if (threads == 1) return "";
  return "this runner was built without the ExecuTorch thread pool, so threads=" +
         std::to_string(threads) + " cannot be applied";
#endif
}

// The pool's size as the runtime reports it (1 when there is no pool).
inline int64_t thread_pool_size() {
#if defined(HARNESS_HAVE_THREADPOOL)
  auto* pool = ::executorch::extension::threadpool::get_threadpool();
  return pool ? static_cast<int64_t>(pool->get_thread_count()) : 0;
#else
  return 1;
#endif
}

}  // namespace harness
