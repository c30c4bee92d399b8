// The server's generation engine: N slots (each its own KV cache) advanced together by one
// thread, one batched forward pass per step (continuous batching: a request joins between
// steps, its prompt evaluated in chunks alongside the other slots' decode tokens). Requests
// beyond the slots wait in a FIFO queue. A slot keeps its tokens after a request, so a later
// request that extends them (the next turn of a conversation) evaluates only the new part.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "apps/server/protocol.h"
#include "smallthinker/engine.h"

namespace st::server {

// One request's generation, shared between the HTTP side that submitted it (reads the output
// when told there is some) and the engine thread (writes it).
struct Job {
  // Input, fixed before submit().
  std::vector<int32_t> prompt;
  int max_tokens = 0;
  smallthinker::SamplingOptions sampling;
  std::vector<std::string> stop;
  std::unique_ptr<smallthinker::Sampler> sampler;  // built by the submitter (JSON mode errors are 400s)

  // Set by the HTTP side when the client has gone: the engine drops the job at its next step.
  std::atomic<bool> cancelled{false};

  // Output, guarded by mutex; `listener` is called (under the mutex, by the engine thread)
  // whenever text arrives or the job ends. Set before submit(); it must only post a wake-up.
  std::mutex mutex;
  std::function<void()> listener;
  std::string text;             // generated text not yet taken by the HTTP side
  bool done = false;
  std::string finish_reason;    // "stop" | "length" (when done without error)
  std::optional<ApiError> error;
  Usage usage;
  Timings timings;

  // Moves the new text into `out`; returns true once the job is done (and all its text taken).
  bool take(std::string& out);
  void notify() {  // caller holds mutex
    if (listener) listener();
  }
};

struct SchedulerCounters {
  uint64_t requests = 0, cancelled = 0;
  uint64_t prompt_tokens = 0, cached_tokens = 0, predicted_tokens = 0;
  double prompt_seconds = 0;       // sum over requests, as llama.cpp's timings
  double decode_busy_seconds = 0;  // wall time of steps that decoded at least one token
  uint64_t steps = 0, multi_seq_steps = 0;  // forward passes; those with > 1 sequence
  uint64_t max_seqs_in_step = 0;
  size_t queue_length = 0, busy_slots = 0, n_slots = 0;
  smallthinker::RuntimeStats runtime;  // expert cache, taken after each step (by the engine thread)
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<smallthinker::Model> model, int n_slots, smallthinker::SessionOptions options,
            size_t max_queue);
  ~Scheduler();  // shutdown()
  // Stops the engine thread; running and queued jobs end with a 503, new ones are refused.
  // The server calls it before stopping its HTTP loop, whose stop waits for every handler.
  void shutdown();

  enum class Submitted { queued, queue_full /* 429 */, shutting_down /* 503 */ };
  // Queues a job unless max_queue jobs are already waiting or the server is shutting down.
  Submitted submit(std::shared_ptr<Job> job);
  SchedulerCounters counters() const;
  int64_t slot_ctx() const { return decoder_.n_ctx(); }

 private:
  struct Slot {
    std::shared_ptr<Job> job;
    std::unique_ptr<smallthinker::TextStreamer> streamer;
    std::unique_ptr<StopMatcher> stop;
    std::vector<int32_t> pending;  // prompt tokens still to evaluate (empty: decoding)
    int32_t next_token = -1;       // the sampled token to evaluate next (decoding)
    int generated = 0;
    uint64_t last_used = 0;
    std::chrono::steady_clock::time_point start, first_token;
  };

  void run();
  void assign_waiting_jobs();  // caller holds mutex_
  void start_job(int slot, std::shared_ptr<Job> job);
  void step();
  // Samples from `logits` for a slot whose prompt is done; false when the job ended.
  bool advance(Slot& s, std::span<const float> logits);
  void finish(Slot& s, const std::string& reason, std::optional<ApiError> error = std::nullopt);
  void fail_active(const std::exception& e);  // ends every running job with a 500

  std::shared_ptr<smallthinker::Model> model_;
  smallthinker::BatchDecoder decoder_;
  std::vector<int32_t> stop_tokens_;
  size_t max_queue_;
  std::vector<Slot> slots_;
  uint64_t use_clock_ = 0;

  mutable std::mutex mutex_;  // guards queue_, counters_, stopping_
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  SchedulerCounters counters_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace st::server
