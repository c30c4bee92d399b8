#include "apps/server/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace st::server {

using clock_type = std::chrono::steady_clock;

bool Job::take(std::string& out, std::vector<TokenLogprobs>* probs) {
  std::lock_guard<std::mutex> lock(mutex);
  out += text;
  text.clear();
  if (probs) {
    probs->insert(probs->end(), std::make_move_iterator(logprobs.begin()), std::make_move_iterator(logprobs.end()));
    logprobs.clear();
  }
  return done;
}

Scheduler::Scheduler(std::shared_ptr<smallthinker::Model> model, int n_slots, smallthinker::SessionOptions options,
                     size_t max_queue)
    : model_(model), decoder_(model, n_slots, options), stop_tokens_(model->stop_tokens()), max_queue_(max_queue),
      slots_(static_cast<size_t>(n_slots)), status_(static_cast<size_t>(n_slots)) {
  counters_.n_slots = static_cast<size_t>(n_slots);
  for (int i = 0; i < n_slots; ++i) status_[static_cast<size_t>(i)].id = i;
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;  // already shut down
  thread_.join();
  const ApiError gone(503, "the server is shutting down", "server_error");
  for (auto& s : slots_)
    if (s.job) finish(s, "", gone);
  for (auto& job : queue_) {
    std::lock_guard<std::mutex> lock(job->mutex);
    job->error = gone;
    job->done = true;
    job->notify();
  }
}

Scheduler::Submitted Scheduler::submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return Submitted::shutting_down;
    if (queue_.size() >= max_queue_) return Submitted::queue_full;
    queue_.push_back(std::move(job));
    counters_.queue_length = queue_.size();
  }
  wake_.notify_all();
  return Submitted::queued;
}

std::vector<SlotStatus> Scheduler::slot_status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void Scheduler::publish_slot_status() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    SlotStatus& st = status_[i];
    st.processing = s.job != nullptr;
    st.n_cached = static_cast<int64_t>(decoder_.cached(static_cast<int>(i)).size());
    st.n_decoded = s.generated;
  }
}

SchedulerCounters Scheduler::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

void Scheduler::run() {
  std::string failure;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const bool busy = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
      if (!busy) wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      try {
        assign_waiting_jobs();
      } catch (const std::exception& e) {
        failure = e.what();
      }
    }
    if (!failure.empty()) {
      fail_active(std::runtime_error(failure));
      failure.clear();
    }
    try {
      step();
    } catch (const std::exception& e) {  // e.g. out of memory: fail the running requests, keep serving
      fail_active(e);
    }
  }
}

void Scheduler::fail_active(const std::exception& e) {
  std::fprintf(stderr, "serve: generation failed: %s\n", e.what());
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    if (!s.job) continue;
    decoder_.keep(i, 0);
    finish(s, "", ApiError(500, std::string("generation failed: ") + e.what(), "server_error"));
  }
}

// First come, first served: each waiting job in order takes a free slot whose cached tokens
// it mostly continues (a common prefix of at least half of them: the next turn of that
// conversation), else the least recently used free slot, so that a request sharing only a
// short prefix (the chat template's first tokens) does not evict a conversation.
void Scheduler::assign_waiting_jobs() {
  // Jobs whose clients have gone leave the queue wherever they wait, so that they hold no place
  // that would turn a later request away with 429 (one cancelled from here on is dropped by step()).
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (!(*it)->cancelled) {
      ++it;
      continue;
    }
    ++counters_.cancelled;
    {
      std::lock_guard<std::mutex> lock((*it)->mutex);
      (*it)->done = true;
      (*it)->notify();
    }
    it = queue_.erase(it);
  }
  while (!queue_.empty()) {
    std::shared_ptr<Job> job = queue_.front();
    int best = -1, lru = -1;
    size_t best_common = 0;
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& s = slots_[static_cast<size_t>(i)];
      if (s.job) continue;
      if (lru < 0 || s.last_used < slots_[static_cast<size_t>(lru)].last_used) lru = i;
      const auto& cached = decoder_.cached(i);
      const size_t common = static_cast<size_t>(
          std::mismatch(cached.begin(), cached.end(), job->prompt.begin(), job->prompt.end()).first - cached.begin());
      if (common > 0 && 2 * common >= cached.size() && common > best_common) {
        best = i;
        best_common = common;
      }
    }
    if (best < 0) best = lru;
    if (best < 0) break;  // every slot is busy
    queue_.pop_front();
    start_job(best, std::move(job));
  }
  counters_.queue_length = queue_.size();
  counters_.busy_slots = static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; }));
}

void Scheduler::start_job(int slot, std::shared_ptr<Job> job) {
  Slot& s = slots_[static_cast<size_t>(slot)];
  s.job = job;  // first: if anything below throws, fail_active() ends the job
  s.generated = 0;
  s.next_token = -1;
  s.start = s.first_token = clock_type::now();
  const auto& cached = decoder_.cached(slot);
  const size_t common = static_cast<size_t>(
      std::mismatch(cached.begin(), cached.end(), job->prompt.begin(), job->prompt.end()).first - cached.begin());
  // At least the prompt's last token is evaluated again: its logits give the first token.
  const int64_t kept = decoder_.keep(slot, static_cast<int64_t>(std::min(common, job->prompt.size() - 1)));
  s.pending.assign(job->prompt.begin() + kept, job->prompt.end());
  s.streamer = std::make_unique<smallthinker::TextStreamer>(*model_);
  s.stop = std::make_unique<StopMatcher>(job->stop);
  job->sampler->accept_prompt(job->prompt);  // penalties look at the prompt too, as in llama.cpp
  job->timings.cache_n = kept;
  job->timings.prompt_n = static_cast<int64_t>(job->prompt.size()) - kept;
  job->usage.prompt_tokens = static_cast<int64_t>(job->prompt.size());
  ++counters_.requests;
  SlotStatus& st = status_[static_cast<size_t>(slot)];
  st.task = static_cast<int64_t>(counters_.requests);
  st.max_tokens = job->max_tokens;
  st.n_probs = std::max(job->n_probs, 0);
  st.sampling = job->sampling;
  st.stop = job->stop;
  publish_slot_status();
  counters_.cached_tokens += static_cast<uint64_t>(kept);
  counters_.prompt_tokens += static_cast<uint64_t>(job->timings.prompt_n);
}

void Scheduler::step() {
  for (auto& s : slots_)
    if (s.job && s.job->cancelled) finish(s, "cancelled");

  std::vector<smallthinker::BatchDecoder::Chunk> chunks;
  int64_t budget = decoder_.n_batch();
  bool decoding = false;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
    Slot& s = slots_[static_cast<size_t>(i)];
    if (!s.job || !s.pending.empty()) continue;
    chunks.push_back({i, std::span<const int32_t>(&s.next_token, 1)});
    --budget;
    decoding = true;
  }
  // Prompts fill what is left of the batch, oldest request first.
  std::vector<int> prompt_slots;
  for (int i = 0; i < static_cast<int>(slots_.size()); ++i)
    if (slots_[static_cast<size_t>(i)].job && !slots_[static_cast<size_t>(i)].pending.empty()) prompt_slots.push_back(i);
  std::sort(prompt_slots.begin(), prompt_slots.end(),
            [&](int a, int b) { return slots_[static_cast<size_t>(a)].start < slots_[static_cast<size_t>(b)].start; });
  for (int i : prompt_slots) {
    if (budget <= 0 && !chunks.empty()) break;
    Slot& s = slots_[static_cast<size_t>(i)];
    const size_t n = std::min(s.pending.size(), static_cast<size_t>(std::max<int64_t>(budget, 1)));
    chunks.push_back({i, std::span<const int32_t>(s.pending.data(), n)});
    budget -= static_cast<int64_t>(n);
  }
  if (chunks.empty()) return;

  const auto t0 = clock_type::now();
  std::vector<std::span<const float>> logits;
  try {
    logits = decoder_.step(chunks);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve: forward pass failed: %s\n", e.what());
    for (const auto& c : chunks) {
      decoder_.keep(c.slot, 0);
      finish(slots_[static_cast<size_t>(c.slot)], "", ApiError(500, std::string("generation failed: ") + e.what(), "server_error"));
    }
    return;
  }
  const auto t1 = clock_type::now();
  smallthinker::RuntimeStats runtime = model_->runtime_stats();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.runtime = std::move(runtime);
    ++counters_.steps;
    if (chunks.size() > 1) ++counters_.multi_seq_steps;
    counters_.max_seqs_in_step = std::max<uint64_t>(counters_.max_seqs_in_step, chunks.size());
    if (decoding) counters_.decode_busy_seconds += std::chrono::duration<double>(t1 - t0).count();
  }
  for (size_t k = 0; k < chunks.size(); ++k) {
    Slot& s = slots_[static_cast<size_t>(chunks[k].slot)];
    if (!s.pending.empty()) {
      s.pending.erase(s.pending.begin(), s.pending.begin() + static_cast<std::ptrdiff_t>(chunks[k].tokens.size()));
      if (!s.pending.empty()) continue;
    }
    advance(s, logits[k]);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  publish_slot_status();
}

bool Scheduler::advance(Slot& s, std::span<const float> logits) {
  Job& job = *s.job;
  std::optional<TokenLogprobs> probs;
  int32_t tok = -1;
  if (job.n_probs >= 0) {
    const auto sampled = job.sampler->sample_with_logprobs(logits, job.n_probs);
    tok = sampled.chosen.token;
    probs = TokenLogprobs{{tok, model_->token_piece(tok), sampled.chosen.logprob}, {}};
    for (const auto& t : sampled.top) probs->top.push_back({t.token, model_->token_piece(t.token), t.logprob});
  } else {
    tok = job.sampler->sample(logits);
  }
  job.sampler->accept(tok);
  if (s.generated == 0) s.first_token = clock_type::now();
  if (std::find(stop_tokens_.begin(), stop_tokens_.end(), tok) != stop_tokens_.end()) {
    finish(s, "stop");
    return false;
  }
  ++s.generated;
  const std::string out = s.stop->push(s.streamer->push(tok));
  if (!out.empty() || probs) {
    std::lock_guard<std::mutex> lock(job.mutex);
    job.text += out;
    if (probs) job.logprobs.push_back(std::move(*probs));
    job.notify();
  }
  if (s.stop->stopped()) {
    finish(s, "stop");
    return false;
  }
  const int slot = static_cast<int>(&s - slots_.data());
  // The sampled token is evaluated next step: it needs a free position in the context.
  if (s.generated >= job.max_tokens || static_cast<int64_t>(decoder_.cached(slot).size()) + 1 > decoder_.n_ctx()) {
    finish(s, "length");
    return false;
  }
  s.next_token = tok;
  return true;
}

void Scheduler::finish(Slot& s, const std::string& reason, std::optional<ApiError> error) {
  std::shared_ptr<Job> job = std::move(s.job);
  s.job.reset();
  const auto now = clock_type::now();
  std::string tail;
  if (!error && reason != "cancelled" && s.stop) {
    tail = s.stop->push(s.streamer->flush());
    tail += s.stop->finish();
  }
  if (s.generated == 0) s.first_token = now;
  // Counters first: a client that reads /metrics right after its reply sees its slot free.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counters_.predicted_tokens += static_cast<uint64_t>(s.generated);
    counters_.prompt_seconds += std::chrono::duration<double>(s.first_token - s.start).count();
    if (reason == "cancelled") ++counters_.cancelled;
    counters_.busy_slots = static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& x) { return x.job != nullptr; }));
    publish_slot_status();
  }
  {
    std::lock_guard<std::mutex> lock(job->mutex);
    job->text += tail;
    job->finish_reason = reason;
    if (s.stop && s.stop->stopped()) job->stop_sequence = s.stop->matched();
    job->error = std::move(error);
    job->usage.completion_tokens = s.generated;
    job->timings.prompt_ms = std::chrono::duration<double, std::milli>(s.first_token - s.start).count();
    job->timings.predicted_n = s.generated;
    job->timings.predicted_ms = std::chrono::duration<double, std::milli>(now - s.first_token).count();
    job->done = true;
    job->notify();
  }
  s.streamer.reset();
  s.stop.reset();
  s.pending.clear();
  s.last_used = ++use_clock_;
}

}  // namespace st::server
