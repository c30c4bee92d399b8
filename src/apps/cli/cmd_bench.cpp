// `smallthinker bench`: prompt processing (pp) and generation (tg) speed like llama-bench,
// with mean and spread over repetitions, plus peak RSS. --json prints one JSON object.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "apps/cli/command.h"
#include "apps/cli/common.h"

namespace st::cli {
namespace {

struct BenchArgs {
  ModelArgs model;
  int n_prompt = 512;
  int n_gen = 128;
  int reps = 3;
  bool json = false;
  int parallel = 0;  // > 1: also decode this many sequences together (BatchDecoder)
  bool no_roofline = false;
  std::vector<int> depths;  // -d: pp and tg measured after this many tokens of context
};

struct Stat {
  double mean = 0, stddev = 0;
};

Stat stat(const std::vector<double>& v) {
  Stat s;
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.stddev = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
  return s;
}

// Aggregate decode speed of `n_seq` sequences advanced together, one token each per forward
// pass (what the server's slots do): tokens of all sequences per second, per repetition.
std::vector<double> parallel_decode(const std::shared_ptr<smallthinker::Model>& model, smallthinker::SessionOptions so,
                                    int n_seq, int n_gen, int reps, std::mt19937& rng,
                                    std::uniform_int_distribution<int32_t>& dist) {
  using clock = std::chrono::steady_clock;
  so.n_ctx = n_gen + 1;
  smallthinker::BatchDecoder decoder(model, n_seq, so);
  std::vector<int32_t> next(static_cast<size_t>(n_seq));
  std::vector<smallthinker::BatchDecoder::Chunk> chunks(static_cast<size_t>(n_seq));
  std::vector<double> out;
  for (int r = 0; r < reps + 1; ++r) {  // the first round warms up, not counted
    for (int s = 0; s < n_seq; ++s) decoder.keep(s, 0);
    const auto t0 = clock::now();
    for (int i = 0; i < n_gen; ++i) {
      for (int s = 0; s < n_seq; ++s) {
        next[static_cast<size_t>(s)] = dist(rng);  // random inputs, as the single-stream decode
        chunks[static_cast<size_t>(s)] = {s, std::span<const int32_t>(&next[static_cast<size_t>(s)], 1)};
      }
      decoder.step(chunks);
    }
    const auto t1 = clock::now();
    if (r > 0) out.push_back(static_cast<double>(n_seq) * n_gen / std::chrono::duration<double>(t1 - t0).count());
  }
  return out;
}

// Tokens appended to the slot in steps of at most n_batch (as Session::eval does).
void append(smallthinker::BatchDecoder& decoder, std::span<const int32_t> tokens) {
  for (size_t b = 0; b < tokens.size(); b += static_cast<size_t>(decoder.n_batch())) {
    const size_t n = std::min(tokens.size() - b, static_cast<size_t>(decoder.n_batch()));
    const smallthinker::BatchDecoder::Chunk chunk{0, tokens.subspan(b, n)};
    decoder.step(std::span<const smallthinker::BatchDecoder::Chunk>(&chunk, 1));
  }
}

struct DepthResult {
  int depth = 0;
  Stat pp, tg;
};

// llama-bench's -d: a context of `depth` random tokens is built once (not timed); each round
// keeps those and measures a prompt of n_prompt tokens, then keeps them again and measures
// n_gen single-token steps. One slot of BatchDecoder is the session's forward pass, with a
// prefix that can be kept. Where a sliding-window ring has already overwritten part of the
// context (keep returns less), the context is built again, untimed.
DepthResult bench_depth(const std::shared_ptr<smallthinker::Model>& model, smallthinker::SessionOptions so, int depth,
                        const BenchArgs& a, std::mt19937& rng, std::uniform_int_distribution<int32_t>& dist) {
  using clock = std::chrono::steady_clock;
  so.n_ctx = depth + std::max(a.n_prompt, a.n_gen) + 1;
  smallthinker::BatchDecoder decoder(model, 1, so);
  std::vector<int32_t> context(static_cast<size_t>(depth));
  for (auto& t : context) t = dist(rng);
  auto back_to_depth = [&] {
    if (decoder.keep(0, depth) == depth) return;
    decoder.keep(0, 0);
    append(decoder, context);
  };
  append(decoder, context);
  std::vector<double> pp, tg;
  for (int r = 0; r < a.reps + 1; ++r) {  // the first round warms up, not counted
    if (a.n_prompt > 0) {
      back_to_depth();
      std::vector<int32_t> prompt(static_cast<size_t>(a.n_prompt));
      for (auto& t : prompt) t = dist(rng);
      const auto t0 = clock::now();
      append(decoder, prompt);
      if (r > 0) pp.push_back(a.n_prompt / std::chrono::duration<double>(clock::now() - t0).count());
    }
    if (a.n_gen > 0) {
      back_to_depth();
      const auto t0 = clock::now();
      for (int i = 0; i < a.n_gen; ++i) {
        const int32_t tok = dist(rng);
        append(decoder, std::span<const int32_t>(&tok, 1));
      }
      if (r > 0) tg.push_back(a.n_gen / std::chrono::duration<double>(clock::now() - t0).count());
    }
  }
  return {depth, stat(pp), stat(tg)};
}

int run_depth_sweep(const BenchArgs& a) {
  auto model = a.model.load();
  const auto so = a.model.session_options();
  const std::string kv_k = so.kv_f32 ? "f32" : so.kv_types.k, kv_v = so.kv_f32 ? "f32" : so.kv_types.v;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(std::min<int64_t>(model->info().n_vocab, 32000) - 1));
  if (!a.json)
    std::printf("model: %s, threads: %d, KV cache: K %s, V %s\n", a.model.model.path.c_str(), model->n_threads(),
                kv_k.c_str(), kv_v.c_str());
  std::string rows;
  for (int depth : a.depths) {
    const DepthResult d = bench_depth(model, so, depth, a, rng, dist);
    if (a.json) {
      rows += fmt::format("{}{{\"depth\": {}, \"prefill_tok_s\": {:.3f}, \"prefill_tok_s_stddev\": {:.3f}, "
                          "\"decode_tok_s\": {:.3f}, \"decode_tok_s_stddev\": {:.3f}}}",
                          rows.empty() ? "" : ", ", d.depth, d.pp.mean, d.pp.stddev, d.tg.mean, d.tg.stddev);
      continue;
    }
    if (a.n_prompt > 0) std::printf("pp%d @ d%d %10.2f ± %.2f tok/s\n", a.n_prompt, d.depth, d.pp.mean, d.pp.stddev);
    if (a.n_gen > 0) std::printf("tg%d @ d%d %10.2f ± %.2f tok/s\n", a.n_gen, d.depth, d.tg.mean, d.tg.stddev);
    std::fflush(stdout);
  }
  if (a.json)
    std::printf("{\"model\": \"%s\", \"threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, \"reps\": %d, "
                "\"cache_type_k\": \"%s\", \"cache_type_v\": \"%s\", \"depths\": [%s], \"peak_rss_bytes\": %llu}\n",
                a.model.model.path.c_str(), model->n_threads(), a.n_prompt, a.n_gen, a.reps, kv_k.c_str(), kv_v.c_str(),
                rows.c_str(), static_cast<unsigned long long>(smallthinker::peak_rss_bytes()));
  else
    std::printf("peak RSS: %.1f MiB\n", static_cast<double>(smallthinker::peak_rss_bytes()) / (1 << 20));
  return 0;
}

// measure_read_bandwidth in a child process, so that its 512 MiB buffer never counts in this
// process's peak RSS (which bench reports); 0 if the child cannot be run.
double bandwidth_in_child(int n_threads) {
  int fds[2];
  if (pipe(fds) != 0) return 0.0;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return 0.0;
  }
  if (pid == 0) {  // no other threads exist yet: the child may allocate and start threads
    close(fds[0]);
    const double bw = smallthinker::measure_read_bandwidth(n_threads);
    const ssize_t w = write(fds[1], &bw, sizeof bw);
    _exit(w == static_cast<ssize_t>(sizeof bw) ? 0 : 1);
  }
  close(fds[1]);
  double bw = 0.0;
  if (read(fds[0], &bw, sizeof bw) != static_cast<ssize_t>(sizeof bw)) bw = 0.0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return bw;
}

int run_bench(const BenchArgs& a) {
  if (!a.depths.empty()) return run_depth_sweep(a);
  using clock = std::chrono::steady_clock;
  // The machine's read bandwidth, with the decode's thread count, before and after the timed
  // rounds; the roofline uses the higher reading, because on a shared machine the bandwidth
  // left to us drifts by tens of percent within a minute (one reading flattered or hid the
  // share). The first is taken before the model exists (no threads to fork around). Not under
  // a memory budget: the 512 MiB buffer would not fit in it (and the roofline describes
  // in-RAM decode).
  const bool roofline = a.n_gen > 0 && !a.no_roofline && a.model.model.memory.empty();
  const double bw_first = roofline ? bandwidth_in_child(a.model.model.n_threads) : 0.0;
  auto model = a.model.load();
  const auto& info = model->info();
  auto so = a.model.session_options();
  so.n_ctx = a.n_prompt + a.n_gen + 1;
  smallthinker::Session session(model, so);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> dist(0, static_cast<int32_t>(std::min<int64_t>(info.n_vocab, 32000) - 1));

  std::vector<double> pp, tg;
  double last_decode_seconds = 0;
  for (int r = 0; r < a.reps + 1; ++r) {  // first round warms caches and page-ins, not counted
    session.reset();
    std::vector<int32_t> prompt(static_cast<size_t>(std::max(a.n_prompt, 1)));
    for (auto& t : prompt) t = dist(rng);
    const auto t0 = clock::now();
    if (a.n_prompt > 0) session.eval(prompt);
    const auto t1 = clock::now();
    if (r > 0 && a.n_prompt > 0) pp.push_back(a.n_prompt / std::chrono::duration<double>(t1 - t0).count());
    if (a.n_gen > 0) {
      session.reset();
      int32_t tok = prompt[0];
      if (r == a.reps) {  // expert-store counters and phase times of the last decode round
        model->reset_runtime_stats();
        session.reset_phase_seconds();
      }
      const auto t2 = clock::now();
      for (int i = 0; i < a.n_gen; ++i) {
        session.eval(std::span<const int32_t>(&tok, 1));
        // The next input is a fresh random token, not the argmax: a random model's greedy
        // output falls into short loops whose repeated routing would flatter the expert cache.
        tok = dist(rng);
      }
      const auto t3 = clock::now();
      if (r > 0) tg.push_back(a.n_gen / std::chrono::duration<double>(t3 - t2).count());
      if (r == a.reps) last_decode_seconds = std::chrono::duration<double>(t3 - t2).count();
    }
  }
  const Stat p = stat(pp), g = stat(tg);
  const auto phases = session.phase_seconds();  // of the last decode round
  const uint64_t rss = smallthinker::peak_rss_bytes();
  const std::string kv_k = so.kv_f32 ? "f32" : so.kv_types.k, kv_v = so.kv_f32 ? "f32" : so.kv_types.v;
  const smallthinker::RuntimeStats rs = model->runtime_stats();
  // After the single-stream figures, so their counters and peak RSS are not mixed with it.
  Stat par;
  if (a.parallel > 1 && a.n_gen > 0) par = stat(parallel_decode(model, a.model.session_options(), a.parallel, a.n_gen, a.reps, rng, dist));
  const double per_token = a.n_gen > 0 ? 1.0 / a.n_gen : 0.0;
  const auto relu = session.relu_stats();
  auto share = [](uint64_t part, uint64_t whole) { return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0; };
  const double zero_share = share(relu.zero, relu.neurons), up_skip = share(relu.up_rows_skipped, relu.up_rows);
  // Decode roofline: weight bytes a token reads (minus what sparse ReGLU skipped: in layers
  // kept as neuron bundles a skipped neuron is its up row and its down codes; the down
  // scales are read whole) over time, next to the machine's read bandwidth (see bw_first).
  const double token_bytes =
      static_cast<double>(info.decode_weight_bytes) -
      info.n_expert_used * up_skip *
          static_cast<double>(info.expert_up_bytes + info.expert_down_bytes - info.expert_down_scale_bytes);
  const double decode_bw = token_bytes * g.mean;
  const double machine_bw = roofline ? std::max(bw_first, smallthinker::measure_read_bandwidth(model->n_threads())) : 0.0;
  const double io_wait_fraction = last_decode_seconds > 0 ? rs.io_wait_seconds / last_decode_seconds : 0.0;
  // Share of expert reads started before the expert was needed (router prefetch or look-ahead).
  const double prefetch_coverage =
      rs.experts_read ? static_cast<double>(rs.prefetched + rs.speculated) / static_cast<double>(rs.experts_read) : 0.0;
  if (a.json) {
    std::string j = fmt::format("{{\"model\": \"{}\", \"file_bytes\": {}, \"threads\": {}, \"n_prompt\": {}, \"n_gen\": {}, "
                                "\"reps\": {}, \"prefill_tok_s\": {:.3f}, \"prefill_tok_s_stddev\": {:.3f}, "
                                "\"decode_tok_s\": {:.3f}, \"decode_tok_s_stddev\": {:.3f}, \"peak_rss_bytes\": {}",
                                a.model.model.path, info.file_bytes, model->n_threads(), a.n_prompt, a.n_gen, a.reps,
                                p.mean, p.stddev, g.mean, g.stddev, rss);
    j += fmt::format(", \"sparse_reglu\": {}, \"reglu_zero_fraction\": {:.4f}, \"up_rows_skipped_fraction\": {:.4f}, "
                     "\"neuron_bundle_layers\": {}, \"row_group_bytes\": {}",
                     a.model.model.sparse_reglu, zero_share, up_skip, relu.bundle_layers, info.row_group_bytes);
    j += fmt::format(", \"decode_bytes_per_token\": {:.0f}, \"decode_read_gb_s\": {:.3f}, \"machine_read_gb_s\": {:.3f}, "
                     "\"roofline_fraction\": {:.4f}",
                     token_bytes, decode_bw / 1e9, machine_bw / 1e9, machine_bw > 0 ? decode_bw / machine_bw : 0.0);
    if (a.n_gen > 0) {
      j += ", \"decode_phase_ms_per_token\": {";
      for (size_t i = 0; i < phases.size(); ++i)
        j += fmt::format("{}\"{}\": {:.4f}", i ? ", " : "", phases[i].first, 1e3 * phases[i].second * per_token);
      j += "}";
    }
    j += fmt::format(", \"cache_type_k\": \"{}\", \"cache_type_v\": \"{}\"", kv_k, kv_v);
    if (a.parallel > 1 && a.n_gen > 0)
      j += fmt::format(", \"parallel\": {}, \"decode_tok_s_parallel\": {:.3f}, \"decode_tok_s_parallel_stddev\": {:.3f}, "
                       "\"parallel_speedup\": {:.3f}",
                       a.parallel, par.mean, par.stddev, g.mean > 0 ? par.mean / g.mean : 0.0);
    if (rs.budgeted)
      j += fmt::format(", \"memory_budget\": \"{}\", \"cache_policy\": \"{}\", \"io_backend\": \"{}\", "
                       "\"expert_hit_rate\": {:.4f}, \"hits\": {}, \"misses\": {}, \"read_bytes_per_token\": {:.0f}, "
                       "\"io_wait_fraction\": {:.4f}, \"prefetch_coverage\": {:.4f}, \"lookahead_reads\": {}, "
                       "\"prefetch_accuracy\": {:.4f}, \"cache_slots\": {}, \"cache_occupancy\": {:.4f}, "
                       "\"sparse_reads\": {}, \"sparse_read_bytes_saved_per_token\": {:.0f}, "
                       "\"sparse_read_waits_per_token\": {:.2f}",
                       a.model.model.memory, rs.cache_policy, rs.io_backend, rs.expert_hit_rate, rs.hits, rs.misses,
                       static_cast<double>(rs.bytes_read) * per_token, io_wait_fraction, prefetch_coverage, rs.speculated,
                       rs.lookahead_accuracy, rs.cache_slots,
                       rs.cache_slots ? static_cast<double>(rs.cache_resident) / rs.cache_slots : 0.0,
                       a.model.model.sparse_reads, static_cast<double>(rs.sparse_read_bytes_saved) * per_token,
                       static_cast<double>(rs.sparse_read_waits) * per_token);
    std::printf("%s}\n", j.c_str());
  } else {
    std::printf("model: %s (%.2f GiB), threads: %d, KV cache: K %s, V %s\n", a.model.model.path.c_str(),
                static_cast<double>(info.file_bytes) / (1 << 30), model->n_threads(), kv_k.c_str(), kv_v.c_str());
    if (a.n_prompt > 0) std::printf("pp%-5d %10.2f ± %.2f tok/s\n", a.n_prompt, p.mean, p.stddev);
    if (a.n_gen > 0) std::printf("tg%-5d %10.2f ± %.2f tok/s\n", a.n_gen, g.mean, g.stddev);
    if (a.parallel > 1 && a.n_gen > 0)
      std::printf("tg%-5d x%d %7.2f ± %.2f tok/s in all (%.2fx one stream)\n", a.n_gen, a.parallel, par.mean, par.stddev,
                  g.mean > 0 ? par.mean / g.mean : 0.0);
    std::printf("peak RSS: %.1f MiB\n", static_cast<double>(rss) / (1 << 20));
    if (info.row_group_bytes > 0)
      std::printf("weights in 16-row groups: %.1f MiB of the %.1f MiB file\n", static_cast<double>(info.row_group_bytes) / (1 << 20),
                  static_cast<double>(info.file_bytes) / (1 << 20));
    if (machine_bw > 0)
      std::printf("decode reads %.1f MB of weights per token: %.1f GB/s, %.0f%% of this machine's %.1f GB/s read bandwidth\n",
                  token_bytes / 1e6, decode_bw / 1e9, 100 * decode_bw / machine_bw, machine_bw / 1e9);
    if (a.n_gen > 0) {
      double total = 0;
      for (const auto& ph : phases) total += ph.second;
      std::string line;
      for (const auto& ph : phases)
        if (total > 0 && ph.second / total >= 0.005)
          line += fmt::format("{}{} {:.2f} ms ({:.0f}%)", line.empty() ? "" : ", ", ph.first, 1e3 * ph.second * per_token,
                              100 * ph.second / total);
      std::printf("decode time per token: %s\n", line.c_str());
    }
    std::printf("ReGLU: %.1f%% of neurons exactly zero; %s\n", 100 * zero_share,
                a.model.model.sparse_reglu
                    ? fmt::format("{:.1f}% of neurons' up rows skipped, {} of {} layers in neuron bundles", 100 * up_skip,
                                  relu.bundle_layers, info.n_layer).c_str()
                    : "dense experts (--no-sparse)");
    if (rs.budgeted)
      std::printf("experts (last decode round): hit rate %.1f%%, %.1f MB read per token, I/O wait %.1f%% of decode, "
                  "%.0f%% of reads started early, look-ahead accuracy %.0f%%; cache %d/%d slots (%s, %s)\n",
                  100 * rs.expert_hit_rate, static_cast<double>(rs.bytes_read) * per_token / 1e6, 100 * io_wait_fraction,
                  100 * prefetch_coverage, 100 * rs.lookahead_accuracy, rs.cache_resident, rs.cache_slots, rs.cache_policy.c_str(), rs.io_backend.c_str());
    if (rs.budgeted && a.model.model.sparse_reads)
      std::printf("neuron-sparse reads: %.1f MB of up rows per token not read, %.1f up reads per token waited for\n",
                  static_cast<double>(rs.sparse_read_bytes_saved) * per_token / 1e6,
                  static_cast<double>(rs.sparse_read_waits) * per_token);
  }
  return 0;
}

const bool registered = register_command({"bench", "measure prompt processing and generation speed", [](CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  a->model.add_to(app);
  app.add_option("-p,--n-prompt", a->n_prompt, "prompt tokens")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app.add_option("-n,--n-gen", a->n_gen, "generated tokens")->capture_default_str()->check(CLI::Range(0, 1 << 20));
  app.add_option("-r,--repetitions", a->reps, "repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--json", a->json, "print one JSON object");
  app.add_flag("--no-roofline", a->no_roofline, "skip measuring the machine's read bandwidth (512 MiB, before and after the timed rounds, ~1 s each; always skipped under --memory)");
  app.add_option("--parallel", a->parallel, "also decode N sequences together (aggregate tok/s, like the server's slots)")
      ->check(CLI::Range(0, 1024));
  app.add_option("-d,--n-depth", a->depths,
                 "context depths, comma-separated (llama-bench's -d): pp and tg measured after this many tokens of "
                 "context, one line each (no roofline or runtime statistics)")
      ->delimiter(',')
      ->check(CLI::Range(0, 1 << 20));
  return [a] { return run_bench(*a); };
}});

}  // namespace
}  // namespace st::cli
