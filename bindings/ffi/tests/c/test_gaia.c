/* End-to-end test of the C ABI against the built library (procedural
 * provider, SQLite in a temporary folder). Prints "N passed, M failed".
 * With "--bench N" it instead prints the round-trip time of gaia_asset. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gaia.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (cond) {                                                            \
      passed++;                                                            \
    } else {                                                               \
      failed++;                                                            \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
      fprintf(stderr, __VA_ARGS__);                                        \
      fprintf(stderr, "\n");                                               \
    }                                                                      \
  } while (0)

static const char *REQUEST =
    "{\"client_id\":\"demo\",\"spec\":{\"kind\":\"image\",\"prompt\":\"moss\",\"width\":64,\"height\":64}}";

/* Expects a failing call: status, code, and a message containing `needle`. */
static void expect_error(int status, GaiaError *err, int want, const char *code,
                         const char *needle, const char *what) {
  CHECK(status == want, "%s: status %d, want %d", what, status, want);
  CHECK(err != NULL, "%s: no error object", what);
  if (err != NULL) {
    CHECK(strcmp(gaia_error_code(err), code) == 0, "%s: code %s, want %s", what,
          gaia_error_code(err), code);
    CHECK(gaia_error_status(err) == want, "%s: error status %d", what, gaia_error_status(err));
    CHECK(needle == NULL || strstr(gaia_error_message(err), needle) != NULL,
          "%s: message %s lacks %s", what, gaia_error_message(err), needle);
    gaia_error_free(err);
  }
}

/* Copies the string value of "key" out of flat JSON (enough for ids). */
static void json_string(const char *json, const char *key, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  out[0] = '\0';
  const char *start = strstr(json, pattern);
  if (start == NULL) return;
  start += strlen(pattern);
  const char *end = strchr(start, '"');
  size_t len = end ? (size_t)(end - start) : 0;
  if (len >= cap) len = cap - 1;
  memcpy(out, start, len);
  out[len] = '\0';
}

/* ---- completion callbacks ---- */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  int done;
  int status;
  char json[8192];
  char code[64];
} Completion;

static void completion_init(Completion *c) {
  memset(c, 0, sizeof *c);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->done_cond, NULL);
}

static void completion_destroy(Completion *c) {
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->done_cond);
}

static void on_complete(void *user_data, int32_t status, const char *json, const GaiaError *error) {
  Completion *c = user_data;
  pthread_mutex_lock(&c->lock);
  c->status = status;
  if (json) snprintf(c->json, sizeof c->json, "%s", json);
  if (error) snprintf(c->code, sizeof c->code, "%s", gaia_error_code(error));
  c->done++;
  pthread_cond_broadcast(&c->done_cond);
  pthread_mutex_unlock(&c->lock);
}

/* Calls back into the library from the completion callback (an engine thread). */
static GaiaEngine *reentrant_engine;
static void on_complete_reenter(void *user_data, int32_t status, const char *json,
                                const GaiaError *error) {
  Completion *c = user_data;
  char id[64];
  json_string(json ? json : "", "id", id, sizeof id);
  char *again = NULL;
  int again_status = gaia_asset(reentrant_engine, id, &again, NULL);
  gaia_string_free(again);
  on_complete(user_data, again_status == GAIA_OK ? status : again_status, json, error);
  (void)c;
}

static int completion_wait(Completion *c, int seconds) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += seconds;
  pthread_mutex_lock(&c->lock);
  while (!c->done) {
    if (pthread_cond_timedwait(&c->done_cond, &c->lock, &deadline) != 0) break;
  }
  int done = c->done;
  pthread_mutex_unlock(&c->lock);
  return done;
}

/* Slow host code in a completion callback. */
static void on_complete_slow(void *user_data, int32_t status, const char *json,
                             const GaiaError *error) {
  usleep(200000);
  on_complete(user_data, status, json, error);
}

static int completion_done(Completion *c) {
  pthread_mutex_lock(&c->lock);
  int done = c->done;
  pthread_mutex_unlock(&c->lock);
  return done;
}

/* A completion callback that frees its own engine once the test has armed it
 * (when nothing else uses the engine any more). */
typedef struct {
  GaiaEngine *engine;
  Completion armed;
  Completion freed;  /* signalled after gaia_engine_free returned */
  Completion *other; /* another completion of the same engine */
  int other_done;    /* other->done when gaia_engine_free returned */
} FreeInCallback;

static void on_complete_free(void *user_data, int32_t status, const char *json,
                             const GaiaError *error) {
  FreeInCallback *f = user_data;
  (void)status;
  (void)json;
  (void)error;
  completion_wait(&f->armed, 30);
  gaia_engine_free(f->engine);
  f->other_done = completion_done(f->other);
  on_complete(&f->freed, GAIA_OK, NULL, NULL);
}

/* ---- event callbacks ---- */
typedef struct {
  atomic_int events;
  atomic_int succeeded;
  atomic_int in_callback;
  atomic_int after_free;
  atomic_int freed;
  int sleep_ms;
  GaiaSubscription *self; /* freed from inside the callback when set */
  atomic_int self_freed;
  GaiaEngine *engine; /* when set, the callback calls gaia_jobs */
  atomic_int reentered;
} Listener;

static void on_event(void *user_data, const char *event_json) {
  Listener *l = user_data;
  atomic_fetch_add(&l->in_callback, 1);
  if (atomic_load(&l->freed)) atomic_fetch_add(&l->after_free, 1);
  atomic_fetch_add(&l->events, 1);
  if (strstr(event_json, "\"type\":\"job_succeeded\"")) {
    atomic_fetch_add(&l->succeeded, 1);
    if (l->engine != NULL) { /* the blocking API works inside an event callback */
      char *jobs = NULL;
      if (gaia_jobs(l->engine, NULL, "{\"limit\":1}", &jobs, NULL) == GAIA_OK) atomic_fetch_add(&l->reentered, 1);
      gaia_string_free(jobs);
    }
  }
  if (l->sleep_ms) usleep(l->sleep_ms * 1000);
  if (l->self != NULL && !atomic_load(&l->self_freed)) {
    atomic_store(&l->self_freed, 1);
    gaia_subscription_free(l->self); /* must not deadlock */
  }
  atomic_fetch_sub(&l->in_callback, 1);
}

static int wait_for(atomic_int *value, int want, int seconds) {
  for (int i = 0; i < seconds * 100 && atomic_load(value) < want; i++) usleep(10000);
  return atomic_load(value) >= want;
}

/* ---- threads ---- */
typedef struct {
  GaiaEngine *engine;
  int ok;
} Worker;

static void *worker_main(void *arg) {
  Worker *w = arg;
  for (int i = 0; i < 3; i++) {
    char *asset = NULL;
    GaiaError *err = NULL;
    if (gaia_generate(w->engine, REQUEST, &asset, &err) != GAIA_OK) {
      gaia_error_free(err);
      continue;
    }
    char id[64];
    json_string(asset, "id", id, sizeof id);
    uint8_t *data = NULL;
    size_t len = 0;
    char *again = NULL;
    if (gaia_asset(w->engine, id, &again, NULL) == GAIA_OK &&
        gaia_read_bytes(w->engine, id, &data, &len, NULL) == GAIA_OK && len > 8 &&
        memcmp(data, "\x89PNG", 4) == 0)
      w->ok++;
    gaia_bytes_free(data, len);
    gaia_string_free(again);
    gaia_string_free(asset);
  }
  return NULL;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static GaiaEngine *open_engine(const char *dir, int workers) {
  char config[1024];
  snprintf(config, sizeof config, "{\"path\":\"%s\",\"workers\":%d}", dir, workers);
  GaiaEngine *engine = NULL;
  GaiaError *err = NULL;
  if (gaia_engine_open(config, &engine, &err) != GAIA_OK) {
    fprintf(stderr, "open failed: %s: %s\n", gaia_error_code(err), gaia_error_message(err));
    gaia_error_free(err);
    return NULL;
  }
  return engine;
}

/* Removes a test folder. */
static void remove_dir(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* gaia_prune_jobs on an engine of its own, so the count is exact. */
static void test_prune_jobs(void) {
  char dir[] = "/tmp/gaia-c-prune-XXXXXX";
  if (mkdtemp(dir) == NULL) return;
  GaiaEngine *engine = open_engine(dir, 1);
  CHECK(engine != NULL, "open the prune engine");
  if (engine == NULL) return;
  char job_id[64] = "";
  char asset_id[64] = "";
  for (int i = 0; i < 2; i++) {
    char *id = NULL, *job = NULL;
    CHECK(gaia_submit(engine, REQUEST, &id, NULL) == GAIA_OK, "submit to prune");
    CHECK(id && gaia_wait(engine, id, &job, NULL) == GAIA_OK, "wait to prune");
    if (id) snprintf(job_id, sizeof job_id, "%s", id);
    if (job) {
      const char *ids = strstr(job, "\"asset_ids\":[\"");
      if (ids) snprintf(asset_id, 37, "%s", ids + strlen("\"asset_ids\":[\""));
    }
    gaia_string_free(job);
    gaia_string_free(id);
  }
  usleep(10000); /* finished_at counts milliseconds: let the clock move past it */
  uint64_t count = 99;
  CHECK(gaia_prune_jobs(engine, 3600, &count, NULL) == GAIA_OK && count == 0,
        "nothing an hour old: %llu", (unsigned long long)count);
  CHECK(gaia_prune_jobs(engine, 0, &count, NULL) == GAIA_OK && count == 2,
        "both finished jobs pruned: %llu", (unsigned long long)count);
  char *out = NULL;
  GaiaError *err = NULL;
  int status = gaia_job(engine, job_id, &out, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", NULL, "a pruned job is gone");
  CHECK(gaia_asset(engine, asset_id, &out, NULL) == GAIA_OK && out && strstr(out, job_id),
        "its asset stays: %s", asset_id);
  gaia_string_free(out);
  CHECK(gaia_prune_jobs(engine, 0, &count, NULL) == GAIA_OK && count == 0, "nothing left to prune");
  err = NULL;
  status = gaia_prune_jobs(engine, 0, NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "out_count", "NULL out_count");
  gaia_engine_free(engine);
  err = NULL;
  status = gaia_prune_jobs(NULL, 0, &count, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "engine", "prune NULL engine");
  remove_dir(dir);
}

/* gaia_engine_free returns once the handle's completion callbacks have
 * returned, also when called from inside one of them. */
static void test_free_waits_for_completions(const char *dir) {
  GaiaEngine *engine = open_engine(dir, 0); /* workers 0: completions end with the close */
  CHECK(engine != NULL, "open for free");
  if (engine == NULL) return;
  Completion slow;
  completion_init(&slow);
  CHECK(gaia_generate_async(engine, REQUEST, on_complete_slow, &slow, NULL, NULL) == GAIA_OK,
        "generate_async before free");
  gaia_engine_free(engine);
  CHECK(completion_done(&slow) == 1 && slow.status == GAIA_INVALID_REQUEST,
        "free returned after the completion callback: %d %d", slow.done, slow.status);
  completion_wait(&slow, 10); /* a callback still running must not outlive `slow` */
  completion_destroy(&slow);

  engine = open_engine(dir, 0);
  CHECK(engine != NULL, "open for free in a callback");
  if (engine == NULL) return;
  FreeInCallback f = {.engine = engine, .other = &slow};
  completion_init(&f.armed);
  completion_init(&f.freed);
  completion_init(&slow);
  CHECK(gaia_generate_async(engine, REQUEST, on_complete_slow, &slow, NULL, NULL) == GAIA_OK,
        "generate_async pending until the free");
  /* An unknown job completes at once (not_found): its callback frees the engine. */
  CHECK(gaia_wait_async(engine, "00000000-0000-7000-8000-000000000000", on_complete_free, &f,
                        NULL) == GAIA_OK, "wait_async that frees its engine");
  on_complete(&f.armed, GAIA_OK, NULL, NULL);
  CHECK(completion_wait(&f.freed, 30), "free inside a completion callback returns");
  CHECK(f.other_done == 1, "free inside a callback waited for the other callbacks");
  completion_wait(&slow, 10);
  completion_destroy(&slow);
  completion_destroy(&f.armed);
  completion_destroy(&f.freed);
}

/* Optional outputs are cleared on failure: a host never reads a stale value. */
static char stale[] = "stale";

static void test_outputs_cleared(GaiaEngine *engine) {
  char *out = stale;
  GaiaError *err = NULL;
  int status = gaia_generate_async(engine, "{\"client_id\":", on_complete, NULL, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", NULL, "generate_async malformed");
  CHECK(out == NULL, "generate_async clears out_job_id on failure");
  out = stale;
  CHECK(gaia_generate_async(NULL, REQUEST, on_complete, NULL, &out, NULL) == GAIA_INVALID_REQUEST &&
            out == NULL, "generate_async NULL engine clears out_job_id");
  out = stale;
  err = NULL;
  status = gaia_cancel(engine, "00000000-0000-7000-8000-000000000000", &out, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", NULL, "cancel unknown job");
  CHECK(out == NULL, "cancel clears out_job_json on failure");
  out = stale;
  err = NULL;
  status = gaia_retry(engine, "00000000-0000-7000-8000-000000000000", &out, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", NULL, "retry unknown job");
  CHECK(out == NULL, "retry clears out_job_json on failure");
  out = stale;
  CHECK(gaia_cancel(NULL, "x", &out, NULL) == GAIA_INVALID_REQUEST && out == NULL,
        "cancel NULL engine clears out_job_json");
  out = stale;
  CHECK(gaia_retry(NULL, "x", &out, NULL) == GAIA_INVALID_REQUEST && out == NULL,
        "retry NULL engine clears out_job_json");
}

/* On a closed engine every output is cleared before the "closed" error. */
static void test_outputs_cleared_when_closed(GaiaEngine *closed, const char *asset_id) {
  char *out = stale;
  CHECK(gaia_job(closed, "00000000-0000-7000-8000-000000000000", &out, NULL) ==
            GAIA_INVALID_REQUEST && out == NULL, "job on a closed engine clears its output");
  out = stale;
  CHECK(gaia_cancel(closed, "00000000-0000-7000-8000-000000000000", &out, NULL) ==
            GAIA_INVALID_REQUEST && out == NULL, "cancel on a closed engine clears its output");
  uint8_t stale_byte = 7;
  uint8_t *data = &stale_byte;
  size_t len = 1;
  CHECK(gaia_read_bytes(closed, asset_id, &data, &len, NULL) == GAIA_INVALID_REQUEST &&
            data == NULL && len == 0, "read_bytes on a closed engine clears its outputs");
  uint64_t count = 5;
  CHECK(gaia_prune_jobs(closed, 0, &count, NULL) == GAIA_INVALID_REQUEST && count == 0,
        "prune_jobs on a closed engine clears its count");
  GaiaSubscription *sub = (GaiaSubscription *)stale;
  CHECK(gaia_subscribe_queue(closed, &sub, NULL) == GAIA_INVALID_REQUEST && sub == NULL,
        "subscribe_queue on a closed engine clears its output");
  out = stale;
  CHECK(gaia_poll_event(NULL, &out, NULL) == GAIA_INVALID_REQUEST && out == NULL,
        "poll NULL subscription clears its output");
}

/* gaia_asset_url: the file blob store cannot sign download URLs. */
static void test_asset_url(GaiaEngine *engine, const char *asset_id) {
  char *url = NULL;
  GaiaError *err = NULL;
  int status = gaia_asset_url(engine, asset_id, 3600, &url, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "blobs", "asset_url on file blobs");
  CHECK(url == NULL, "no URL on failure");
  err = NULL;
  status = gaia_asset_url(engine, "00000000-0000-7000-8000-000000000000", 60, &url, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", NULL, "asset_url of an unknown asset");
  err = NULL;
  status = gaia_asset_url(engine, asset_id, 60, NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "out_url", "asset_url NULL out");
  err = NULL;
  status = gaia_asset_url(engine, NULL, 60, &url, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "asset_id", "asset_url NULL id");
}

static int bench(const char *dir, int n) {
  GaiaEngine *engine = open_engine(dir, 1);
  if (!engine) return 1;
  char *asset = NULL;
  if (gaia_generate(engine, REQUEST, &asset, NULL) != GAIA_OK) return 1;
  char id[64];
  json_string(asset, "id", id, sizeof id);
  gaia_string_free(asset);
  for (int i = 0; i < 100; i++) { /* warm up */
    char *json = NULL;
    gaia_asset(engine, id, &json, NULL);
    gaia_string_free(json);
  }
  double start = now_us();
  for (int i = 0; i < n; i++) {
    char *json = NULL;
    if (gaia_asset(engine, id, &json, NULL) != GAIA_OK) return 1;
    gaia_string_free(json);
  }
  double per_call = (now_us() - start) / n;
  printf("C gaia_asset round trip: %.1f us per call (%d calls)\n", per_call, n);
  gaia_engine_free(engine);
  return 0;
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/gaia-c-test-XXXXXX";
  if (mkdtemp(dir) == NULL) return 2;
  if (argc == 3 && strcmp(argv[1], "--bench") == 0) {
    int rc = bench(dir, atoi(argv[2]));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = 2;
    return rc;
  }

  GaiaError *err = NULL;
  GaiaEngine *engine = NULL;
  int status;

  /* ---- version ---- */
  CHECK(gaia_abi_version() == GAIA_ABI_VERSION, "abi %u", gaia_abi_version());
  CHECK(gaia_version() != NULL && strlen(gaia_version()) > 0, "version");

  /* ---- open: error paths ---- */
  status = gaia_engine_open(NULL, &engine, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "config_json", "open NULL config");
  err = NULL;
  status = gaia_engine_open("{\"path\":", &engine, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", NULL, "open malformed JSON");
  err = NULL;
  status = gaia_engine_open("{\"pth\":\"x\"}", &engine, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "pth", "open unknown field");
  err = NULL;
  status = gaia_engine_open("{\"path\":\"\xff\xfe\"}", &engine, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "UTF-8", "open invalid UTF-8");
  err = NULL;
  status = gaia_engine_open("{}", NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "out_engine", "open NULL out");
  CHECK(gaia_engine_open(NULL, &engine, NULL) == GAIA_INVALID_REQUEST, "NULL out_error is allowed");
  CHECK(engine == NULL, "no engine after a failed open");

  /* ---- open ---- */
  engine = open_engine(dir, 2);
  CHECK(engine != NULL, "open");
  if (engine == NULL) goto done;

  /* ---- blocking generate, asset by id, bytes ---- */
  char *asset_json = NULL;
  err = NULL;
  status = gaia_generate(engine, REQUEST, &asset_json, &err);
  CHECK(status == GAIA_OK, "generate: %d %s", status, err ? gaia_error_message(err) : "");
  gaia_error_free(err);
  char asset_id[64] = "";
  if (asset_json) {
    CHECK(strstr(asset_json, "\"type\":\"image\"") != NULL, "asset type: %s", asset_json);
    CHECK(strstr(asset_json, "\"width\":64") != NULL, "asset width: %s", asset_json);
    json_string(asset_json, "id", asset_id, sizeof asset_id);
    gaia_string_free(asset_json);
  }
  char *again = NULL;
  CHECK(gaia_asset(engine, asset_id, &again, NULL) == GAIA_OK, "asset by id");
  CHECK(again && strstr(again, asset_id) != NULL, "asset json names its id");
  gaia_string_free(again);
  uint8_t *data = NULL;
  size_t len = 0;
  CHECK(gaia_read_bytes(engine, asset_id, &data, &len, NULL) == GAIA_OK, "read bytes");
  CHECK(len > 8 && data && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0, "PNG bytes (%zu)", len);
  gaia_bytes_free(data, len);

  /* ---- submit + wait (blocking) ---- */
  char *job_id = NULL;
  CHECK(gaia_submit(engine, REQUEST, &job_id, NULL) == GAIA_OK, "submit");
  CHECK(job_id && strlen(job_id) == 36, "job id %s", job_id ? job_id : "(null)");
  char *job_json = NULL;
  CHECK(gaia_wait(engine, job_id, &job_json, NULL) == GAIA_OK, "wait");
  CHECK(job_json && strstr(job_json, "\"status\":\"succeeded\""), "job succeeded: %s",
        job_json ? job_json : "");
  gaia_string_free(job_json);
  job_json = NULL;
  CHECK(gaia_job(engine, job_id, &job_json, NULL) == GAIA_OK, "job by id");
  gaia_string_free(job_json);
  char *logs = NULL;
  CHECK(gaia_job_logs(engine, job_id, &logs, NULL) == GAIA_OK && logs[0] == '[', "job logs");
  gaia_string_free(logs);
  gaia_string_free(job_id);

  /* ---- callback completion ---- */
  Completion c;
  completion_init(&c);
  char *async_job = NULL;
  CHECK(gaia_generate_async(engine, REQUEST, on_complete, &c, &async_job, NULL) == GAIA_OK,
        "generate_async returns at once");
  CHECK(async_job != NULL, "generate_async gives the job id");
  CHECK(completion_wait(&c, 30), "completion callback called");
  CHECK(c.status == GAIA_OK && strstr(c.json, "\"type\":\"image\""), "completion asset: %d %s",
        c.status, c.json);
  char source_job[64];
  json_string(strstr(c.json, "\"source\"") ? strstr(c.json, "\"source\"") : c.json, "job_id",
              source_job, sizeof source_job);
  CHECK(async_job && strcmp(source_job, async_job) == 0, "asset from job %s", source_job);
  completion_destroy(&c);
  completion_init(&c);
  CHECK(gaia_wait_async(engine, async_job, on_complete, &c, NULL) == GAIA_OK, "wait_async");
  CHECK(completion_wait(&c, 30) && c.status == GAIA_OK && strstr(c.json, "succeeded"),
        "wait_async job: %s", c.json);
  completion_destroy(&c);
  gaia_string_free(async_job);
  completion_init(&c);
  CHECK(gaia_wait_async(engine, "00000000-0000-7000-8000-000000000000", on_complete, &c, NULL) ==
            GAIA_OK, "wait_async unknown job");
  CHECK(completion_wait(&c, 30) && c.status == GAIA_NOT_FOUND && strcmp(c.code, "not_found") == 0,
        "wait_async error through the callback: %d %s", c.status, c.code);
  completion_destroy(&c);

  /* A completion callback may call the blocking API. */
  completion_init(&c);
  reentrant_engine = engine;
  CHECK(gaia_generate_async(engine, REQUEST, on_complete_reenter, &c, NULL, NULL) == GAIA_OK,
        "generate_async (re-entrant callback)");
  CHECK(completion_wait(&c, 30) && c.status == GAIA_OK, "blocking call inside a completion: %d",
        c.status);
  completion_destroy(&c);

  /* ---- event callback subscription ---- */
  Listener listener = {0};
  listener.engine = engine;
  GaiaSubscription *sub = NULL;
  CHECK(gaia_subscribe(engine, on_event, &listener, &sub, NULL) == GAIA_OK, "subscribe");
  char *asset2 = NULL;
  CHECK(gaia_generate(engine, REQUEST, &asset2, NULL) == GAIA_OK, "generate with listener");
  gaia_string_free(asset2);
  CHECK(wait_for(&listener.succeeded, 1, 10), "job_succeeded reached the callback");
  CHECK(atomic_load(&listener.events) >= 4, "events %d", atomic_load(&listener.events));
  CHECK(wait_for(&listener.reentered, 1, 10), "blocking call inside an event callback");
  /* Free while a slow callback runs: returns only after it finished. */
  listener.sleep_ms = 200;
  char *job3 = NULL;
  gaia_submit(engine, REQUEST, &job3, NULL);
  CHECK(wait_for(&listener.in_callback, 1, 10), "a callback is running");
  gaia_subscription_free(sub);
  CHECK(atomic_load(&listener.in_callback) == 0, "free waited for the running callback");
  atomic_store(&listener.freed, 1);
  char *done3 = NULL;
  gaia_wait(engine, job3, &done3, NULL);
  usleep(100000);
  CHECK(atomic_load(&listener.after_free) == 0, "no callback after free");
  gaia_string_free(done3);
  gaia_string_free(job3);

  /* Free from inside the callback: no deadlock, no later callbacks. */
  Listener self = {0};
  GaiaSubscription *self_sub = NULL;
  CHECK(gaia_subscribe(engine, on_event, &self, &self_sub, NULL) == GAIA_OK, "subscribe self");
  self.self = self_sub;
  char *asset4 = NULL;
  gaia_generate(engine, REQUEST, &asset4, NULL);
  gaia_string_free(asset4);
  CHECK(wait_for(&self.self_freed, 1, 10), "freed itself from its callback");
  usleep(100000);
  CHECK(atomic_load(&self.events) == 1, "one event, then none (%d)", atomic_load(&self.events));

  /* ---- poll subscription ---- */
  GaiaSubscription *queue = NULL;
  CHECK(gaia_subscribe_queue(engine, &queue, NULL) == GAIA_OK, "subscribe queue");
  char *event = NULL;
  CHECK(gaia_poll_event(queue, &event, NULL) == GAIA_EMPTY && event == NULL, "poll empty");
  char *asset5 = NULL;
  gaia_generate(engine, REQUEST, &asset5, NULL);
  gaia_string_free(asset5);
  int polled = 0, first_queued = 0, saw_succeeded = 0;
  for (;;) {
    err = NULL;
    status = gaia_poll_event(queue, &event, &err);
    if (status != GAIA_OK) break;
    if (polled == 0) first_queued = strstr(event, "\"type\":\"job_queued\"") != NULL;
    if (strstr(event, "\"type\":\"job_succeeded\"")) saw_succeeded = 1;
    polled++;
    gaia_string_free(event);
  }
  CHECK(status == GAIA_EMPTY && err == NULL, "poll drains to GAIA_EMPTY (%d)", status);
  CHECK(polled >= 4 && first_queued && saw_succeeded, "polled %d events", polled);
  gaia_subscription_free(queue);

  /* ---- error paths ---- */
  char *out = NULL;
  err = NULL;
  status = gaia_generate(NULL, REQUEST, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "engine", "NULL engine");
  err = NULL;
  status = gaia_generate(engine, NULL, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "request_json", "NULL request");
  err = NULL;
  status = gaia_generate(engine, REQUEST, NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "out_asset_json", "NULL out");
  err = NULL;
  status = gaia_submit(engine, "{\"client_id\":", &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", NULL, "malformed request");
  err = NULL;
  status = gaia_submit(engine, "{\"client_id\":\"d\xc3\x28\"}", &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "UTF-8", "invalid UTF-8");
  err = NULL;
  status = gaia_submit(engine,
                       "{\"client_id\":\"demo\",\"spec\":{\"kind\":\"image\",\"prompt\":\"m\",\"wdth\":4}}",
                       &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "wdth", "unknown field");
  err = NULL;
  status = gaia_submit(engine,
                       "{\"client_id\":\"demo\",\"spec\":{\"kind\":\"image\",\"prompt\":\"m\",\"width\":99999}}",
                       &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "width", "width out of range");
  err = NULL;
  status = gaia_asset(engine, "00000000-0000-7000-8000-000000000000", &out, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", NULL, "unknown asset");
  err = NULL;
  status = gaia_job(engine, "not-a-uuid", &out, &err);
  expect_error(status, err, GAIA_NOT_FOUND, "not_found", "not-a-uuid", "bad job id");
  err = NULL;
  status = gaia_read_bytes(engine, asset_id, &data, NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "out_len", "NULL out_len");
  CHECK(data == NULL, "read_bytes clears out_data when out_len is NULL");
  err = NULL;
  status = gaia_subscribe(engine, NULL, NULL, &sub, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "callback", "NULL callback");
  err = NULL;
  status = gaia_generate_async(engine, REQUEST, NULL, NULL, NULL, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "callback", "NULL completion");
  err = NULL;
  status = gaia_poll_event(NULL, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "subscription", "NULL poll");
  err = NULL;
  status = gaia_jobs(engine, "{\"statuz\":1}", NULL, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "filter_json", "bad filter");
  Listener idle = {0};
  GaiaSubscription *cb_sub = NULL;
  gaia_subscribe(engine, on_event, &idle, &cb_sub, NULL);
  err = NULL;
  status = gaia_poll_event(cb_sub, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "subscription", "poll a callback sub");
  gaia_subscription_free(cb_sub);
  CHECK(gaia_error_code(NULL) == NULL && gaia_error_message(NULL) == NULL, "NULL error getters");
  gaia_error_free(NULL);
  gaia_string_free(NULL);
  gaia_bytes_free(NULL, 0);
  gaia_subscription_free(NULL);
  gaia_engine_free(NULL);
  CHECK(out == NULL, "outputs stay NULL on failure");

  /* ---- listings, costs, providers ---- */
  char *page = NULL;
  CHECK(gaia_jobs(engine, "{\"client_id\":\"demo\"}", "{\"limit\":2}", &page, NULL) == GAIA_OK &&
            strstr(page, "\"next_cursor\""), "jobs page");
  gaia_string_free(page);
  page = NULL;
  CHECK(gaia_assets(engine, NULL, NULL, &page, NULL) == GAIA_OK && strstr(page, "\"items\""),
        "assets page");
  gaia_string_free(page);
  page = NULL;
  CHECK(gaia_costs(engine, NULL, &page, NULL) == GAIA_OK, "costs");
  gaia_string_free(page);
  page = NULL;
  CHECK(gaia_providers(engine, &page, NULL) == GAIA_OK && strstr(page, "procedural"), "providers");
  gaia_string_free(page);

  /* ---- download URLs and pruning ---- */
  test_outputs_cleared(engine);
  test_asset_url(engine, asset_id);
  test_prune_jobs();

  /* ---- several threads at once ---- */
  enum { THREADS = 4 };
  pthread_t threads[THREADS];
  Worker workers[THREADS];
  for (int i = 0; i < THREADS; i++) {
    workers[i] = (Worker){engine, 0};
    pthread_create(&threads[i], NULL, worker_main, &workers[i]);
  }
  int ok = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(threads[i], NULL);
    ok += workers[i].ok;
  }
  CHECK(ok == THREADS * 3, "threads: %d of %d generations", ok, THREADS * 3);

  /* ---- close: later calls fail; free releases ---- */
  err = NULL;
  CHECK(gaia_engine_close(engine, &err) == GAIA_OK, "close");
  CHECK(gaia_engine_close(engine, NULL) == GAIA_OK, "close twice");
  err = NULL;
  status = gaia_generate(engine, REQUEST, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "closed", "generate after close");
  err = NULL;
  status = gaia_asset(engine, asset_id, &out, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "closed", "asset after close");
  err = NULL;
  status = gaia_subscribe_queue(engine, &queue, &err);
  expect_error(status, err, GAIA_INVALID_REQUEST, "invalid_request", "closed", "subscribe after close");
  test_outputs_cleared_when_closed(engine, asset_id);
  gaia_engine_free(engine);

  /* ---- a pending completion ends when its engine closes ---- */
  GaiaEngine *idle_engine = open_engine(dir, 0); /* workers 0: jobs never run */
  CHECK(idle_engine != NULL, "open without workers");
  if (idle_engine) {
    completion_init(&c);
    CHECK(gaia_generate_async(idle_engine, REQUEST, on_complete, &c, NULL, NULL) == GAIA_OK,
          "generate_async queued");
    gaia_engine_close(idle_engine, NULL);
    CHECK(completion_wait(&c, 10) && c.status == GAIA_INVALID_REQUEST && c.done == 1,
          "pending completion reports the close: %d %s", c.status, c.code);
    completion_destroy(&c);
    gaia_engine_free(idle_engine);
  }
  test_free_waits_for_completions(dir);

done:;
  remove_dir(dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
