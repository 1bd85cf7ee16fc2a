// gaia.hpp: a header-only C++17 wrapper over the C ABI in gaia.h.
//
// RAII handles (gaia::Engine, gaia::Subscription, gaia::EventQueue), results
// as std::string (wire JSON) and std::vector<uint8_t> (asset bytes), failures
// as gaia::Error exceptions carrying the stable code and the C status.
//
//   gaia::Engine engine = gaia::Engine::open(R"({"path":".gaia"})");
//   std::string asset = engine.generate(R"({"client_id":"demo","spec":{"kind":"image","prompt":"moss"}})");
//   std::future<std::string> later = engine.generate_async(request);
#ifndef GAIA_HPP
#define GAIA_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gaia.h"

namespace gaia {

/// A failed call: `code()` is the stable snake_case code, `status()` its C number.
class Error : public std::runtime_error {
 public:
  Error(std::string code, int status, const std::string &message)
      : std::runtime_error(message), code_(std::move(code)), status_(status) {}
  const std::string &code() const noexcept { return code_; }
  int status() const noexcept { return status_; }

  /// Reads a native error without freeing it.
  static Error from(int status, const GaiaError *error) {
    if (error == nullptr) return Error("internal", status, "no error object");
    return Error(gaia_error_code(error), gaia_error_status(error), gaia_error_message(error));
  }

 private:
  std::string code_;
  int status_;
};

namespace detail {

/// Throws for a failed status, freeing the native error. Takes the error's
/// address so that it is read after the call (argument order is unspecified).
inline void check(int status, GaiaError **error_slot) {
  GaiaError *error = *error_slot;
  if (status == GAIA_OK) return;
  Error e = Error::from(status, error);
  gaia_error_free(error);
  throw e;
}

/// Takes ownership of a returned string.
inline std::string take(char *text) {
  std::unique_ptr<char, void (*)(char *)> owned(text, gaia_string_free);
  return text == nullptr ? std::string() : std::string(text);
}

/// A duration argument as the whole seconds the C ABI takes (a negative one
/// is an `invalid_request` naming `name`).
inline uint64_t whole_seconds(std::chrono::seconds span, const char *name) {
  if (span.count() < 0) {
    throw Error("invalid_request", GAIA_INVALID_REQUEST, std::string(name) + ": must not be negative");
  }
  return static_cast<uint64_t>(span.count());
}

inline const char *c_str_or_null(const std::optional<std::string> &text) {
  return text ? text->c_str() : nullptr;
}

/// A promise completed by a GaiaCompletionCallback. Called from C: nothing
/// may unwind out of it, so a failure goes to the future instead.
inline void complete(void *user_data, int32_t status, const char *json,
                     const GaiaError *error) noexcept {
  std::unique_ptr<std::promise<std::string>> promise(static_cast<std::promise<std::string> *>(user_data));
  try {
    if (status == GAIA_OK) {
      promise->set_value(json == nullptr ? "" : json);
    } else {
      promise->set_exception(std::make_exception_ptr(Error::from(status, error)));
    }
  } catch (...) {
    try {
      promise->set_exception(std::current_exception());
    } catch (...) {
      // Already satisfied; otherwise destroying the promise breaks it.
    }
  }
}

using EventHandler = std::function<void(const std::string &)>;

/// What a subscription's user_data points to. Each dispatch holds its own
/// reference, so a Subscription reset (or destroyed) from inside its handler
/// does not destroy the running std::function.
using SharedHandler = std::shared_ptr<EventHandler>;

inline void dispatch(void *user_data, const char *event_json) {
  try {
    SharedHandler handler = *static_cast<SharedHandler *>(user_data);
    (*handler)(event_json);
  } catch (...) {
    // An exception must not unwind into the library.
  }
}

}  // namespace detail

/// A callback subscription: the handler runs on an engine thread for each
/// event. Destroying it returns after a running handler has finished; from
/// inside the handler it returns at once and the handler is destroyed when
/// it returns.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription &&other) noexcept { *this = std::move(other); }
  Subscription &operator=(Subscription &&other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, nullptr);
      handler_ = std::move(other.handler_);
    }
    return *this;
  }
  Subscription(const Subscription &) = delete;
  Subscription &operator=(const Subscription &) = delete;
  ~Subscription() { reset(); }

  /// Stops the subscription (waits for a running handler; safe from inside it).
  void reset() {
    gaia_subscription_free(std::exchange(handle_, nullptr));
    handler_.reset();
  }

 private:
  friend class Engine;
  GaiaSubscription *handle_ = nullptr;
  std::unique_ptr<detail::SharedHandler> handler_;
};

/// A queue of events drained with `poll()` on the thread the host chooses.
class EventQueue {
 public:
  EventQueue() = default;
  EventQueue(EventQueue &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  EventQueue &operator=(EventQueue &&other) noexcept {
    if (this != &other) {
      gaia_subscription_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  EventQueue(const EventQueue &) = delete;
  EventQueue &operator=(const EventQueue &) = delete;
  ~EventQueue() { gaia_subscription_free(handle_); }

  /// The next event's JSON, or nothing when none is waiting.
  std::optional<std::string> poll() {
    char *json = nullptr;
    GaiaError *error = nullptr;
    int status = gaia_poll_event(handle_, &json, &error);
    if (status == GAIA_EMPTY) return std::nullopt;
    detail::check(status, &error);
    return detail::take(json);
  }

 private:
  friend class Engine;
  GaiaSubscription *handle_ = nullptr;
};

/// An open engine (move-only). Safe to share between threads by reference.
class Engine {
 public:
  /// Opens an engine from EngineConfig JSON.
  static Engine open(const std::string &config_json) {
    GaiaEngine *handle = nullptr;
    GaiaError *error = nullptr;
    detail::check(gaia_engine_open(config_json.c_str(), &handle, &error), &error);
    return Engine(handle);
  }

  Engine(Engine &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Engine &operator=(Engine &&other) noexcept {
    if (this != &other) {
      gaia_engine_free(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;
  ~Engine() { gaia_engine_free(handle_); }

  /// Submits, waits and returns the first asset's JSON (blocks).
  std::string generate(const std::string &request_json) const {
    return call_string(gaia_generate, request_json);
  }

  /// Submits and returns at once; the future gets the first asset's JSON.
  std::future<std::string> generate_async(const std::string &request_json,
                                          std::string *job_id = nullptr) const {
    auto promise = std::make_unique<std::promise<std::string>>();
    auto future = promise->get_future();
    char *id = nullptr;
    GaiaError *error = nullptr;
    int status = gaia_generate_async(handle_, request_json.c_str(), detail::complete,
                                     promise.get(), &id, &error);
    detail::check(status, &error);
    promise.release();  // owned by the callback now
    std::string taken = detail::take(id);
    if (job_id != nullptr) *job_id = taken;
    return future;
  }

  /// Submits and returns the job id at once.
  std::string submit(const std::string &request_json) const {
    return call_string(gaia_submit, request_json);
  }

  /// Waits until the job has ended; returns its JSON (blocks).
  std::string wait(const std::string &job_id) const { return call_string(gaia_wait, job_id); }

  /// Returns at once; the future gets the job's JSON when it has ended.
  std::future<std::string> wait_async(const std::string &job_id) const {
    auto promise = std::make_unique<std::promise<std::string>>();
    auto future = promise->get_future();
    GaiaError *error = nullptr;
    detail::check(
        gaia_wait_async(handle_, job_id.c_str(), detail::complete, promise.get(), &error), &error);
    promise.release();
    return future;
  }

  std::string job(const std::string &job_id) const { return call_string(gaia_job, job_id); }
  std::string job_logs(const std::string &job_id) const {
    return call_string(gaia_job_logs, job_id);
  }
  std::string cancel(const std::string &job_id) const { return call_string(gaia_cancel, job_id); }
  std::string retry(const std::string &job_id) const { return call_string(gaia_retry, job_id); }
  std::string asset(const std::string &asset_id) const {
    return call_string(gaia_asset, asset_id);
  }

  /// A page of jobs / assets (filter and page JSON optional).
  std::string jobs(const std::optional<std::string> &filter = std::nullopt,
                   const std::optional<std::string> &page = std::nullopt) const {
    return call_page(gaia_jobs, filter, page);
  }
  std::string assets(const std::optional<std::string> &filter = std::nullopt,
                     const std::optional<std::string> &page = std::nullopt) const {
    return call_page(gaia_assets, filter, page);
  }

  /// An asset's bytes.
  std::vector<uint8_t> read_bytes(const std::string &asset_id) const {
    uint8_t *data = nullptr;
    size_t len = 0;
    GaiaError *error = nullptr;
    detail::check(gaia_read_bytes(handle_, asset_id.c_str(), &data, &len, &error), &error);
    std::vector<uint8_t> bytes(data, data + len);
    gaia_bytes_free(data, len);
    return bytes;
  }

  /// A URL that downloads the asset's bytes without credentials until `ttl` has
  /// passed: a presigned URL of an S3 blob store. Other blob stores cannot sign
  /// one: gaia::Error "invalid_request" naming `blobs` (use read_bytes).
  std::string asset_url(const std::string &asset_id,
                        std::chrono::seconds ttl = std::chrono::hours(1)) const {
    uint64_t seconds = detail::whole_seconds(ttl, "ttl");
    char *url = nullptr;
    GaiaError *error = nullptr;
    detail::check(gaia_asset_url(handle_, asset_id.c_str(), seconds, &url, &error), &error);
    return detail::take(url);
  }

  /// Deletes every job that ended more than `older_than` ago, with its log
  /// (their assets and costs stay); returns how many went.
  uint64_t prune_jobs(std::chrono::seconds older_than) const {
    uint64_t seconds = detail::whole_seconds(older_than, "older_than");
    uint64_t count = 0;
    GaiaError *error = nullptr;
    detail::check(gaia_prune_jobs(handle_, seconds, &count, &error), &error);
    return count;
  }

  std::string providers() const {
    char *json = nullptr;
    GaiaError *error = nullptr;
    detail::check(gaia_providers(handle_, &json, &error), &error);
    return detail::take(json);
  }

  /// Calls `handler(event_json)` on an engine thread for every event from now on.
  Subscription subscribe(detail::EventHandler handler) const {
    Subscription subscription;
    subscription.handler_ = std::make_unique<detail::SharedHandler>(
        std::make_shared<detail::EventHandler>(std::move(handler)));
    GaiaError *error = nullptr;
    detail::check(gaia_subscribe(handle_, detail::dispatch, subscription.handler_.get(),
                                 &subscription.handle_, &error), &error);
    return subscription;
  }

  /// A queue of every event from now on, drained with EventQueue::poll().
  EventQueue subscribe_queue() const {
    EventQueue queue;
    GaiaError *error = nullptr;
    detail::check(gaia_subscribe_queue(handle_, &queue.handle_, &error), &error);
    return queue;
  }

  /// Stops the engine; later calls throw (code "invalid_request").
  void close() const {
    GaiaError *error = nullptr;
    detail::check(gaia_engine_close(handle_, &error), &error);
  }

  GaiaEngine *native_handle() const noexcept { return handle_; }

 private:
  explicit Engine(GaiaEngine *handle) : handle_(handle) {}

  using StringCall = int32_t (*)(const GaiaEngine *, const char *, char **, GaiaError **);
  using PageCall = int32_t (*)(const GaiaEngine *, const char *, const char *, char **, GaiaError **);

  std::string call_string(StringCall call, const std::string &argument) const {
    char *out = nullptr;
    GaiaError *error = nullptr;
    detail::check(call(handle_, argument.c_str(), &out, &error), &error);
    return detail::take(out);
  }

  std::string call_page(PageCall call, const std::optional<std::string> &filter,
                        const std::optional<std::string> &page) const {
    char *out = nullptr;
    GaiaError *error = nullptr;
    detail::check(call(handle_, detail::c_str_or_null(filter), detail::c_str_or_null(page), &out,
                       &error), &error);
    return detail::take(out);
  }

  GaiaEngine *handle_ = nullptr;
};

/// The ABI version of the loaded library, and whether it matches this header.
inline uint32_t abi_version() { return gaia_abi_version(); }
inline bool abi_matches() { return gaia_abi_version() == GAIA_ABI_VERSION; }

}  // namespace gaia

#endif  // GAIA_HPP
