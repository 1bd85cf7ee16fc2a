// End-to-end test of gaia.hpp against the built library. Prints "N passed, M failed".
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "gaia.hpp"

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string &what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    std::cerr << "FAIL " << what << "\n";
  }
}

template <typename F>
void expect_error(F &&f, const std::string &code, const std::string &needle,
                  const std::string &what) {
  try {
    f();
    check(false, what + ": no exception");
  } catch (const gaia::Error &e) {
    check(e.code() == code, what + ": code " + e.code());
    check(e.status() >= 1 && e.status() <= 13, what + ": status");
    check(needle.empty() || std::string(e.what()).find(needle) != std::string::npos,
          what + ": message " + e.what());
  }
}

std::string field(const std::string &json, const std::string &key) {
  auto pattern = "\"" + key + "\":\"";
  auto at = json.find(pattern);
  if (at == std::string::npos) return "";
  at += pattern.size();
  return json.substr(at, json.find('"', at) - at);
}

const std::string kRequest =
    R"({"client_id":"demo","spec":{"kind":"image","prompt":"moss","width":64,"height":64}})";

// State of subscription_reset_inside_its_handler, outside the handler: the
// handler must not read its own captures after the reset it tests.
std::atomic<bool> reset_armed{false}, reset_done{false}, destroyed_while_running{false};
std::atomic<bool> probe_destroyed{false};
std::atomic<int> calls_after_arming{0};
std::promise<void> probe_gone;

/// Captured by the handler: tells when the handler is destroyed.
struct Probe {
  ~Probe() {
    probe_destroyed = true;
    probe_gone.set_value();
  }
};

/// A subscription reset from inside its own handler: the running handler
/// (and what it captured) lives until it returns.
void subscription_reset_inside_its_handler(const gaia::Engine &engine) {
  gaia::Subscription subscription;
  auto probe = std::make_shared<Probe>();
  subscription = engine.subscribe([&subscription, probe](const std::string &) {
    if (!reset_armed) return;  // a late event of an earlier job
    calls_after_arming++;
    if (reset_done) return;
    subscription.reset();
    destroyed_while_running = probe_destroyed.load();
    reset_done = true;
  });
  probe.reset();
  auto gone = probe_gone.get_future();
  reset_armed = true;
  engine.generate(kRequest);
  check(gone.wait_for(std::chrono::seconds(10)) == std::future_status::ready,
        "the handler was destroyed after a reset from inside it");
  check(reset_done, "reset from inside the handler returned");
  check(!destroyed_while_running, "the handler outlived a reset from inside it");
  check(calls_after_arming == 1, "no handler call after the reset: " + std::to_string(calls_after_arming));
}

/// The completion callback is called from C: nothing may unwind out of it.
void completion_never_throws() {
  check(noexcept(gaia::detail::complete(nullptr, GAIA_OK, nullptr, nullptr)),
        "detail::complete is noexcept");
  auto *promise = new std::promise<std::string>();
  auto future = promise->get_future();
  promise->set_value("first");
  bool threw = false;
  try {
    gaia::detail::complete(promise, GAIA_OK, "second", nullptr);  // set_value throws inside
  } catch (...) {
    threw = true;
  }
  check(!threw && future.get() == "first", "a failing completion stays inside the callback");
}

}  // namespace

int main() {
  char tmpl[] = "/tmp/gaia-cpp-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string config = R"({"path":")" + dir + R"(","workers":2})";
  try {
    check(gaia::abi_matches(), "ABI version");
    expect_error([] { gaia::Engine::open("{"); }, "invalid_request", "", "open malformed");
    expect_error([] { gaia::Engine::open(R"({"pth":1})"); }, "invalid_request", "pth",
                 "open unknown field");

    gaia::Engine engine = gaia::Engine::open(config);

    // generate, asset, bytes
    std::string asset = engine.generate(kRequest);
    check(asset.find(R"("type":"image")") != std::string::npos, "generate: " + asset);
    std::string id = field(asset, "id");
    check(engine.asset(id).find(id) != std::string::npos, "asset by id");
    std::vector<uint8_t> bytes = engine.read_bytes(id);
    check(bytes.size() > 8 && std::memcmp(bytes.data(), "\x89PNG", 4) == 0, "PNG bytes");

    // futures completed by the callback
    std::string job_id;
    auto future = engine.generate_async(kRequest, &job_id);
    check(job_id.size() == 36, "generate_async job id");
    check(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready, "future ready");
    check(field(future.get(), "job_id") == job_id, "future asset from its job");
    auto waited = engine.wait_async(job_id).get();
    check(waited.find(R"("status":"succeeded")") != std::string::npos, "wait_async");
    auto missing = engine.wait_async("00000000-0000-7000-8000-000000000000");
    expect_error([&] { missing.get(); }, "not_found", "", "wait_async error via future");

    // submit + wait
    std::string submitted = engine.submit(kRequest);
    check(engine.wait(submitted).find("succeeded") != std::string::npos, "submit + wait");
    check(engine.job_logs(submitted).front() == '[', "job logs");

    // callback subscription; destroying it waits for a running handler
    std::atomic<int> events{0}, running{0}, after{0};
    std::atomic<bool> stopped{false};
    {
      gaia::Subscription subscription = engine.subscribe([&](const std::string &event) {
        running++;
        if (stopped) after++;
        if (event.find("\"seq\"") != std::string::npos) events++;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        running--;
      });
      engine.generate(kRequest);
      for (int i = 0; i < 200 && events < 4; i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      check(events >= 4, "events via callback: " + std::to_string(events));
    }
    check(running == 0, "subscription destructor waited for the handler");
    stopped = true;
    engine.generate(kRequest);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    check(after == 0, "no handler after the subscription ended");

    subscription_reset_inside_its_handler(engine);
    completion_never_throws();

    // poll queue
    gaia::EventQueue queue = engine.subscribe_queue();
    check(!queue.poll().has_value(), "poll empty");
    engine.generate(kRequest);
    int polled = 0;
    bool first_queued = false;
    while (auto event = queue.poll()) {
      if (polled++ == 0) first_queued = event->find("job_queued") != std::string::npos;
    }
    check(polled >= 4 && first_queued, "polled " + std::to_string(polled));

    // errors
    expect_error([&] { engine.asset("00000000-0000-7000-8000-000000000000"); }, "not_found", "",
                 "unknown asset");
    expect_error([&] { engine.generate("{\"client_id\":"); }, "invalid_request", "", "malformed");
    expect_error([&] { engine.generate("{\"client_id\":\"d\xc3\x28\"}"); }, "invalid_request",
                 "UTF-8", "invalid UTF-8");
    expect_error(
        [&] {
          engine.submit(R"({"client_id":"demo","spec":{"kind":"image","prompt":"m","wdth":1}})");
        },
        "invalid_request", "wdth", "unknown field");
    expect_error([&] { engine.jobs(std::string("{\"x\":1}")); }, "invalid_request", "filter_json",
                 "bad filter");
    check(engine.assets().find("\"items\"") != std::string::npos, "assets page");
    check(engine.providers().find("procedural") != std::string::npos, "providers");

    // download URLs: the file blob store cannot sign them
    expect_error([&] { engine.asset_url(id); }, "invalid_request", "blobs", "asset_url on file blobs");
    expect_error([&] { engine.asset_url("00000000-0000-7000-8000-000000000000", std::chrono::minutes(1)); },
                 "not_found", "", "asset_url of an unknown asset");
    expect_error([&] { engine.asset_url(id, std::chrono::seconds(-1)); }, "invalid_request", "ttl",
                 "asset_url negative ttl");

    // prune_jobs, on an engine of its own so that the count is exact
    {
      char prune_tmpl[] = "/tmp/gaia-cpp-prune-XXXXXX";
      std::string prune_dir = mkdtemp(prune_tmpl);
      {
        gaia::Engine pruning = gaia::Engine::open(R"({"path":")" + prune_dir + R"(","workers":1})");
        std::string finished = pruning.submit(kRequest);
        std::string job_json = pruning.wait(finished);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // finished_at counts ms
        check(pruning.prune_jobs(std::chrono::hours(1)) == 0, "prune_jobs: nothing an hour old");
        check(pruning.prune_jobs(std::chrono::seconds(0)) == 1, "prune_jobs: the finished job");
        expect_error([&] { pruning.job(finished); }, "not_found", "", "a pruned job is gone");
        auto ids = job_json.find("\"asset_ids\":[\"");
        std::string kept = ids == std::string::npos ? "" : job_json.substr(ids + 14, 36);
        check(pruning.asset(kept).find(finished) != std::string::npos, "its asset stays");
        check(pruning.prune_jobs(std::chrono::seconds(0)) == 0, "prune_jobs: nothing left");
        expect_error([&] { pruning.prune_jobs(std::chrono::seconds(-5)); }, "invalid_request",
                     "older_than", "prune_jobs negative");
      }
      std::error_code ignored;
      std::filesystem::remove_all(prune_dir, ignored);
    }

    // several threads at once
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
      threads.emplace_back([&] {
        for (int i = 0; i < 2; i++) {
          try {
            std::string a = engine.generate(kRequest);
            std::string aid = field(a, "id");
            if (engine.asset(aid).find(aid) != std::string::npos && !engine.read_bytes(aid).empty())
              ok++;
          } catch (const gaia::Error &e) {
            std::cerr << "thread: " << e.code() << ": " << e.what() << "\n";
          }
        }
      });
    }
    for (auto &t : threads) t.join();
    check(ok == 8, "threads: " + std::to_string(ok.load()) + " of 8");

    // close; later calls throw
    engine.close();
    expect_error([&] { engine.generate(kRequest); }, "invalid_request", "closed", "after close");

    // moved-from engine is inert
    gaia::Engine moved = gaia::Engine::open(config);
    gaia::Engine target = std::move(moved);
    check(target.native_handle() != nullptr && moved.native_handle() == nullptr, "move");
  } catch (const std::exception &e) {
    check(false, std::string("unexpected exception: ") + e.what());
  }
  std::error_code ignored;  // SQLite may still be removing its -wal file
  std::filesystem::remove_all(dir, ignored);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
