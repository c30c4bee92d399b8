/* The C API's version-2 additions and its misuse handling, from C99 against libsmallthinker.so:
 * handles used after free (the registry refuses them without reading freed memory), structs of
 * the first version's size, load options (cache policy, KV types), state save/restore, the
 * JSON-schema constraint, log-probabilities, stop tokens, the session's token history and a
 * budgeted load (its refusal message printed when it fails); version 3's OpenAI-shaped chat
 * rendering and tool-call sampler.
 *   capi_v2_test MODEL OUT_PREFIX   (writes OUT_PREFIX.json: the constrained generation's text,
 *   with OUT_PREFIX.json.complete when the constraint reported a whole value; run_capi.py parses
 *   and validates it with Python's json and jsonschema) */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smallthinker.h"

static int failures = 0;

static void check(int ok, const char *what) {
  printf("%s: %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) ++failures;
}

static int contains(const char *s, const char *part) { return s && part && strstr(s, part) != NULL; }

static st_model *load(const char *path, st_model_options *o) {
  st_model *m = NULL;
  o->path = path;
  o->n_threads = 2;
  o->n_ctx = 256;
  if (st_model_load(o, &m) != ST_OK) printf("  load failed: %s\n", st_last_error());
  return m;
}

static void test_after_free(const char *path) {
  st_model_options o;
  st_model *m;
  st_session *s = NULL;
  st_sampler *smp = NULL;
  st_sampling_params p;
  st_model_info info;
  int32_t tok = 1;
  float logits[4] = {0, 0, 0, 0};
  size_t n = 0;
  int not_a_handle[64];
  memset(not_a_handle, 0, sizeof not_a_handle);
  st_model_options_init(&o);
  m = load(path, &o);
  if (!m) {
    check(0, "load for the after-free test");
    return;
  }
  st_sampling_params_init(&p);
  check(st_session_new(m, NULL, &s) == ST_OK && st_sampler_new(m, &p, &smp) == ST_OK, "a session and a sampler");
  st_session_free(s);
  check(st_session_eval(s, &tok, 1) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "not a live handle"),
        "st_session_eval on a freed session: ST_ERR_INVALID_ARGUMENT, 'not a live handle'");
  check(st_session_n_past(s) == -1 && contains(st_session_last_error(s), "not a live"),
        "st_session_n_past / last_error of a freed session: -1 and a message");
  st_session_free(s);
  check(1, "freeing a session twice does nothing");
  st_sampler_free(smp);
  check(st_sampler_sample(smp, logits, 4, &tok) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "sampler"),
        "st_sampler_sample on a freed sampler is refused naming it");
  check(st_session_eval((st_session *)not_a_handle, &tok, 1) == ST_ERR_INVALID_ARGUMENT,
        "a pointer the library never issued is refused");
  st_model_free(m);
  info.struct_size = sizeof info;
  check(st_model_get_info(m, &info) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "model"),
        "st_model_get_info on a freed model is refused");
  check(st_session_new(m, NULL, &s) == ST_ERR_INVALID_ARGUMENT && s == NULL, "st_session_new on a freed model is refused");
  check(st_tokenize(m, "a", 1, 1, &tok, 1, &n) == ST_ERR_INVALID_ARGUMENT, "st_tokenize on a freed model is refused");
  st_model_free(m);
  check(1, "freeing a model twice does nothing");
}

/* A program built against the version-1 header passes the smaller structs. */
static void test_v1_structs(const char *path) {
  st_model_options o;
  st_model *m;
  st_runtime_stats rs;
  unsigned char *tail;
  size_t v1 = offsetof(st_runtime_stats, cache_slots), i;
  int untouched = 1;
  st_model_options_init(&o);
  o.struct_size = offsetof(st_model_options, cache_policy);
  o.cache_policy = "this field is past a v1 struct and must not be read";
  m = load(path, &o);
  check(m != NULL, "st_model_options of the version-1 size loads (new fields take their defaults)");
  if (!m) return;
  memset(&rs, 0xAB, sizeof rs);
  rs.struct_size = v1;
  check(st_model_runtime_stats(m, &rs) == ST_OK && rs.struct_size == v1, "st_runtime_stats of the version-1 size");
  tail = (unsigned char *)&rs + v1;
  for (i = 0; i < sizeof rs - v1; ++i) untouched &= tail[i] == 0xAB;
  check(untouched, "... and nothing past it is written");
  rs.struct_size = v1 - 1;
  check(st_model_runtime_stats(m, &rs) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "struct_size"),
        "a struct_size below version 1's is refused naming struct_size");
  st_model_free(m);
}

static void test_load_options(const char *path) {
  st_model_options o;
  st_model *m = NULL;
  st_session *s = NULL;
  st_session_options so;
  int32_t prompt[3] = {1, 2, 3};
  size_t n = 0;
  st_model_options_init(&o);
  o.path = path;
  o.cache_policy = "random";
  check(st_model_load(&o, &m) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "cache_policy"),
        "an unknown cache policy is refused naming cache_policy");
  st_model_options_init(&o);
  o.kv_type_k = "f32";
  o.kv_type_v = "f32";
  o.cache_policy = "lru";
  m = load(path, &o);
  check(m != NULL, "load with cache_policy lru and an f32 KV cache");
  if (!m) return;
  check(st_session_new(m, NULL, &s) == ST_OK && st_session_generate(s, prompt, 3, 4, NULL, NULL, NULL, &n) == ST_OK && n > 0,
        "a session with the model's f32 KV cache generates");
  st_session_free(s);
  s = NULL;
  st_session_options_init(&so);
  so.kv_type_k = "q9_9";
  check(st_session_new(m, &so, &s) == ST_ERR_INVALID_ARGUMENT && s == NULL && contains(st_last_error(), "q9_9"),
        "an unknown KV type is refused naming it");
  st_model_free(m);
}

static void test_state(st_model *m) {
  st_session *s = NULL, *small = NULL, *other = NULL;
  st_session_options so;
  int32_t prompt[6] = {5, 6, 7, 8, 9, 10}, more[2] = {11, 12}, held[16];
  const float *logits = NULL;
  float *saved_logits;
  size_t n_vocab = 0, size = 0, need = 0, n_held = 0;
  unsigned char state[4096];
  check(st_session_new(m, NULL, &s) == ST_OK && st_session_eval(s, prompt, 6) == ST_OK &&
        st_session_logits(s, &logits, &n_vocab) == ST_OK, "eval 6 tokens");
  saved_logits = (float *)malloc(n_vocab * sizeof(float));
  if (!saved_logits) return;
  memcpy(saved_logits, logits, n_vocab * sizeof(float));
  check(st_session_save_state(s, state, 4, &need) == ST_ERR_BUFFER_TOO_SMALL && need > 6 * sizeof(int32_t),
        "st_session_save_state into a small buffer: the size needed");
  check(st_session_save_state(s, state, sizeof state, &size) == ST_OK && size == need, "st_session_save_state");
  check(st_session_eval(s, more, 2) == ST_OK && st_session_n_past(s) == 8, "eval 2 more");
  check(st_session_load_state(s, state, size) == ST_OK && st_session_n_past(s) == 6, "st_session_load_state: 6 tokens again");
  check(st_session_logits(s, &logits, &n_vocab) == ST_OK && memcmp(logits, saved_logits, n_vocab * sizeof(float)) == 0,
        "... with the same logits, bit for bit");
  check(st_session_tokens(s, held, 16, &n_held) == ST_OK && n_held == 6 && memcmp(held, prompt, sizeof prompt) == 0,
        "st_session_tokens: the context's ids");
  check(st_session_new(m, NULL, &other) == ST_OK && st_session_load_state(other, state, size) == ST_OK &&
        st_session_logits(other, &logits, &n_vocab) == ST_OK && memcmp(logits, saved_logits, n_vocab * sizeof(float)) == 0,
        "the state loads into another session of the model, same logits");
  check(st_session_load_state(s, state, size - 1) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "state_size"),
        "a truncated state is refused naming state_size");
  state[0] = 'X';
  check(st_session_load_state(s, state, size) == ST_ERR_INVALID_ARGUMENT && contains(st_last_error(), "STSTATE1"),
        "a state with a bad header is refused");
  state[0] = 'S';
  check(st_session_load_state(s, NULL, size) == ST_ERR_INVALID_ARGUMENT, "a NULL state is refused");
  st_session_options_init(&so);
  so.n_ctx = 4;
  check(st_session_new(m, &so, &small) == ST_OK && st_session_load_state(small, state, size) == ST_ERR_CONTEXT_FULL,
        "a state larger than the session's context: ST_ERR_CONTEXT_FULL");
  free(saved_logits);
  st_session_free(small);
  st_session_free(other);
  st_session_free(s);
}

struct text {
  char bytes[8192];
  size_t len;
  int32_t last;
  size_t n;
};

static int collect(int32_t token, const char *piece, size_t len, void *user_data) {
  struct text *t = (struct text *)user_data;
  if (t->len + len < sizeof t->bytes) {
    memcpy(t->bytes + t->len, piece, len);
    t->len += len;
  }
  t->last = token;
  ++t->n;
  return 1;
}

static void write_file(const char *prefix, const char *suffix, const char *data, size_t n) {
  char path[1024];
  FILE *f;
  snprintf(path, sizeof path, "%s%s", prefix, suffix);
  f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) check(0, "write an output file");
  if (f) fclose(f);
}

static const char *kSchema =
    "{\"type\":\"object\",\"properties\":{\"colour\":{\"enum\":[\"red\",\"green\",\"blue\"]},"
    "\"ok\":{\"type\":\"boolean\"}},\"required\":[\"colour\",\"ok\"]}";

static void test_json(st_model *m, const char *out_prefix) {
  st_session *s = NULL;
  st_sampler *smp = NULL;
  st_sampling_params p;
  int32_t prompt[64], stops[8], tail[512];
  size_t n_prompt = 0, n_stops = 0, n = 0, n_tail = 0, i;
  int complete = 0, stopped = 0;
  static struct text t;
  const char *q = "<|im_start|>user\nGive me JSON.<|im_end|>\n<|im_start|>assistant\n";
  st_tokenize(m, q, strlen(q), 1, prompt, 64, &n_prompt);
  check(st_model_stop_tokens(m, stops, 8, &n_stops) == ST_OK && n_stops >= 1, "st_model_stop_tokens");
  st_sampling_params_init(&p);
  p.temperature = 0;
  p.json_schema = "{\"type\":\"object\",\"patternProperties\":{}}";
  check(st_sampler_new(m, &p, &smp) == ST_ERR_INVALID_ARGUMENT && smp == NULL && contains(st_last_error(), "patternProperties"),
        "an unsupported schema keyword is refused naming it");
  p.json_schema = kSchema;
  check(st_session_new(m, NULL, &s) == ST_OK, "a session for the constrained generation");
  memset(&t, 0, sizeof t);
  check(st_session_generate(s, prompt, n_prompt, 200, &p, collect, &t, &n) == ST_OK && n > 0,
        "st_session_generate with a JSON schema");
  for (i = 0; i < n_stops; ++i) stopped |= t.last == stops[i];
  write_file(out_prefix, ".json", t.bytes, t.len);
  if (stopped) write_file(out_prefix, ".json.complete", "", 0);
  check(stopped, "the constrained generation ended with a stop token (a whole value)");
  check(st_session_tokens(s, tail, 512, &n_tail) == ST_OK && n_tail == n_prompt + n - 1 &&
        memcmp(tail, prompt, n_prompt * sizeof(int32_t)) == 0,
        "after generate the context holds the prompt and every generated token but the last");
  /* The sampler API: the same constraint token by token. */
  check(st_sampler_new(m, &p, &smp) == ST_OK && st_sampler_accept_prompt(smp, prompt, n_prompt) == ST_OK &&
        st_sampler_json_complete(smp, &complete) == ST_OK && complete == 0,
        "a constrained sampler: the prompt feeds penalties only, the value is not complete yet");
  {
    int32_t bad = stops[0];
    check(st_sampler_accept(smp, &bad, 1) != ST_OK, "accepting a stop token before the value is complete is refused");
  }
  st_sampler_free(smp);
  st_session_free(s);
}

static void test_logprobs(st_model *m) {
  st_session *s = NULL;
  st_sampler *smp = NULL;
  st_sampling_params p;
  int32_t prompt[3] = {3, 4, 5}, tok = -1, top[3];
  float lp = 0, top_lp[3];
  const float *logits = NULL;
  size_t n_vocab = 0, i, best = 0;
  double sum = 0, ref;
  st_sampling_params_init(&p);
  p.temperature = 0;
  check(st_session_new(m, NULL, &s) == ST_OK && st_session_eval(s, prompt, 3) == ST_OK &&
        st_session_logits(s, &logits, &n_vocab) == ST_OK && st_sampler_new(m, &p, &smp) == ST_OK, "logits and a sampler");
  if (!smp) return;
  for (i = 1; i < n_vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  for (i = 0; i < n_vocab; ++i) sum += exp((double)logits[i] - logits[best]);
  ref = -log(sum);
  check(st_sampler_sample_logprobs(smp, logits, n_vocab, &tok, &lp, 3, top, top_lp) == ST_OK && (size_t)tok == best &&
        top[0] == tok && fabs(lp - ref) < 1e-4 && top_lp[0] == lp && top_lp[1] <= top_lp[0] && top_lp[2] <= top_lp[1],
        "st_sampler_sample_logprobs: the argmax, its log-softmax (double reference) and the top 3 in order");
  check(st_sampler_sample_logprobs(smp, logits, n_vocab, &tok, &lp, 3, NULL, top_lp) == ST_ERR_INVALID_ARGUMENT,
        "a NULL top_tokens with n_top > 0 is refused");
  st_sampler_free(smp);
  st_session_free(s);
}

/* Under a memory budget: the load must work, and when it does not, the message says why. */
static void test_budget(const char *path) {
  st_model_options o;
  st_model *m = NULL;
  st_session *s = NULL;
  st_runtime_stats rs;
  int32_t prompt[3] = {1, 2, 3};
  size_t n = 0;
  st_model_options_init(&o);
  o.memory_budget = (uint64_t)1 << 30; /* also above what ASan+UBSan hold (see capi_test.c) */
  m = load(path, &o);
  check(m != NULL, "load under a 1 GiB budget");
  if (!m) return;
  rs.struct_size = sizeof rs;
  check(st_session_new(m, NULL, &s) == ST_OK && st_session_generate(s, prompt, 3, 4, NULL, NULL, NULL, &n) == ST_OK &&
        st_model_runtime_stats(m, &rs) == ST_OK && rs.budgeted == 1 && rs.experts_read > 0 && rs.cache_slots > 0,
        "it generates, the expert store counts reads and has cache slots");
  st_session_free(s);
  st_model_free(m);
}

/* v3: OpenAI-shaped chat rendering and the tool-call sampler, with their misuse. */
static void test_tools(st_model *m) {
  const char *msgs = "[{\"role\":\"user\",\"content\":\"2+3?\"},{\"role\":\"assistant\",\"content\":\"\","
                     "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"add\","
                     "\"arguments\":{\"a\":2}}}]},{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"5\"}]";
  const char *tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"add\",\"parameters\":{}}}]";
  st_tool tools[2] = {{"add", "{\"type\":\"object\",\"properties\":{\"op\":{\"enum\":[\"plus\",\"minus\"]}},"
                              "\"required\":[\"op\"]}"}, {"add", NULL}};
  st_tool bad_schema = {"f", "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"pattern\":\"a+\"}}}"};
  st_sampling_params p;
  st_sampler *smp = NULL;
  st_session *s = NULL;
  char text[4096];
  int32_t ids[1024], tok;
  size_t n = 0, n_text = 0, i, len = 0;
  const float *logits;
  size_t n_vocab;
  check(st_chat_json_text(m, msgs, tools_json, 1, text, sizeof text, &n_text) == ST_OK &&
        contains(text, "<|im_start|>tool\n5<|im_end|>") && contains(text, "<|im_start|>user\n2+3?"),
        "st_chat_json_text renders a role \"tool\" turn");
  check(st_chat_json_tokens(m, msgs, NULL, 1, ids, 4, &n) == ST_ERR_BUFFER_TOO_SMALL && n > 4,
        "st_chat_json_tokens: a small buffer gets the size needed");
  check(st_chat_json_tokens(m, msgs, NULL, 1, ids, 1024, &n) == ST_OK && n > 4, "st_chat_json_tokens");
  check(st_chat_json_tokens(m, "[{\"role\":", NULL, 1, ids, 1024, &n) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "messages"), "malformed messages JSON is refused naming messages");
  check(st_chat_json_tokens(m, "[]", "{}", 1, ids, 1024, &n) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "tools"), "tools that are not an array are refused naming tools");
  check(st_chat_json_tokens(m, NULL, NULL, 1, ids, 1024, &n) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "messages_json"), "NULL messages_json is refused");
  st_sampling_params_init(&p);
  p.temperature = 0;
  check(st_sampler_new_tools(m, &p, NULL, 1, ST_TOOL_CHOICE_AUTO, 0, &smp) == ST_ERR_INVALID_ARGUMENT && smp == NULL,
        "st_sampler_new_tools: NULL tools with n_tools 1 is refused");
  check(st_sampler_new_tools(m, &p, tools, 2, ST_TOOL_CHOICE_AUTO, 0, &smp) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "two tools"), "two tools of one name are refused");
  check(st_sampler_new_tools(m, &p, tools, 1, (st_tool_choice)7, 0, &smp) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "choice"), "an unknown tool choice is refused naming choice");
  check(st_sampler_new_tools(m, &p, tools, 0, ST_TOOL_CHOICE_REQUIRED, 0, &smp) == ST_ERR_INVALID_ARGUMENT,
        "a required call without tools is refused");
  check(st_sampler_new_tools(m, &p, &bad_schema, 1, ST_TOOL_CHOICE_REQUIRED, 0, &smp) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "tools[0].parameters") && contains(st_last_error(), "pattern"),
        "an unsupported schema keyword is refused naming tools[0].parameters and the keyword");
  p.json_object = 1;
  check(st_sampler_new_tools(m, &p, tools, 1, ST_TOOL_CHOICE_AUTO, 0, &smp) == ST_ERR_INVALID_ARGUMENT &&
        contains(st_last_error(), "json_object"), "a JSON constraint with tools is refused");
  p.json_object = 0;
  check(st_sampler_new_tools(m, &p, tools, 1, ST_TOOL_CHOICE_REQUIRED, 0, &smp) == ST_OK && smp != NULL,
        "st_sampler_new_tools: one required tool");
  /* Greedy under the constraint: the reply opens with a call to `add` whose op is an enum value. */
  check(st_chat_json_tokens(m, "[{\"role\":\"user\",\"content\":\"hi\"}]", tools_json, 1, ids, 1024, &n) == ST_OK &&
        st_session_new(m, NULL, &s) == ST_OK && st_session_eval(s, ids, n) == ST_OK, "a prompt for the call");
  text[0] = '\0';
  for (i = 0; i < 200 && smp && s && !contains(text, "</tool_call>"); ++i) {
    size_t piece = 0;
    if (st_session_logits(s, &logits, &n_vocab) != ST_OK || st_sampler_sample(smp, logits, n_vocab, &tok) != ST_OK ||
        st_sampler_accept(smp, &tok, 1) != ST_OK || st_session_eval(s, &tok, 1) != ST_OK)
      break;
    if (st_detokenize(m, &tok, 1, text + len, sizeof text - 1 - len, &piece) == ST_OK) len += piece;
    text[len] = '\0';
  }
  text[len] = '\0';
  printf("  constrained call: %s\n", text);
  check(strncmp(text, "<tool_call>", 11) == 0 && contains(text, "\"name\"") && contains(text, "\"add\""),
        "a required call opens with <tool_call> and names the tool");
  check(contains(text, "\"op\":\"plus\"") || contains(text, "\"op\":\"minus\""), "its op is one of the enum's values");
  check(contains(text, "</tool_call>"), "the call closes");
  st_session_free(s);
  st_sampler_free(smp);
}

int main(int argc, char **argv) {
  st_model_options o;
  st_model *m;
  if (argc != 3) {
    fprintf(stderr, "usage: %s MODEL OUT_PREFIX\n", argv[0]);
    return 2;
  }
  check(st_api_version() >= 3, "the library implements API version 3");
  test_after_free(argv[1]);
  test_v1_structs(argv[1]);
  test_load_options(argv[1]);
  st_model_options_init(&o);
  m = load(argv[1], &o);
  if (!m) return 1;
  test_state(m);
  test_json(m, argv[2]);
  test_logprobs(m);
  test_tools(m);
  st_model_free(m);
  test_budget(argv[1]);
  printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
