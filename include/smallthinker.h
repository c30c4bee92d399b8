/* smallthinker.h: the C API of libsmallthinker (C99; usable from any language's FFI).
 *
 * Load a SmallThinker GGUF model, turn text into tokens and back, render chat messages with
 * the model's template, evaluate tokens in a session (its own KV cache), read logits, sample,
 * and generate with a per-token callback that can stop.
 *
 * Errors. Every function that can fail returns an st_status; ST_OK (0) is success. No C++
 * exception crosses this boundary. The message of the last failure is kept twice:
 *   - per thread: st_last_error() (always set, also when there is no handle, e.g. a failed load
 *     or a NULL handle);
 *   - per handle: st_model_last_error(), st_session_last_error(), st_sampler_last_error().
 * Messages name the file or argument at fault. They are owned by the library: valid until the
 * next failing call in the same thread (st_last_error) or on the same handle (the others).
 *
 * Ownership. Every handle returned through an out-parameter (st_model_load, st_session_new,
 * st_sampler_new) is the caller's and is released with its _free function; _free accepts NULL.
 * A session or sampler keeps its model alive: the model may be freed before them (the memory
 * goes when the last of them is freed). Output arrays and strings are written into buffers
 * the caller passes with their capacity; when too small, the call returns
 * ST_ERR_BUFFER_TOO_SMALL and stores the size needed (so call again with a larger buffer).
 * Pointers returned by the library (messages, version, logits) are owned by the library.
 *
 * Threads. A model may be used from several threads at once: tokenize, detokenize, chat
 * rendering and info are safe concurrently, and sessions of one model may run in different
 * threads (their forward passes share the model's thread pool and take turns). One session or
 * sampler must not be used by two threads at the same time. Callbacks run on the calling
 * thread (progress: the thread calling st_model_load).
 *
 * Versions. SMALLTHINKER_API_VERSION grows by one whenever functions or struct fields are
 * added; st_api_version() tells what the loaded library implements. Structs carry their size
 * (struct_size, set by the _init functions or sizeof), so a program built against an older
 * header keeps working with a newer library: fields it does not know get their defaults (option
 * structs) or are not written (info and statistics). Fields marked "v2" came with API version 2,
 * "v3" with version 3.
 *
 * Misuse. NULL handles and pointers, a struct_size below the first version's, sizes that do not
 * match and values out of range are refused with ST_ERR_INVALID_ARGUMENT and a message naming
 * the argument. The library keeps a registry of the handles it issued and not yet freed: a
 * call with a freed handle (or a pointer it never issued) is refused the same way without the
 * freed memory being read, and freeing a handle twice does nothing. (A stale pointer that a
 * newer handle happens to reuse cannot be told apart from that handle.)
 */
#ifndef SMALLTHINKER_H
#define SMALLTHINKER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMALLTHINKER_API_VERSION 3

#if defined(SMALLTHINKER_BUILDING_LIBRARY) && defined(__GNUC__)
#define SMALLTHINKER_EXPORT __attribute__((visibility("default")))
#else
#define SMALLTHINKER_EXPORT
#endif

typedef enum st_status {
  ST_OK = 0,
  ST_ERR_INVALID_ARGUMENT = 1, /* a NULL handle or pointer, a bad size, a value out of range */
  ST_ERR_IO = 2,               /* a file cannot be opened or read */
  ST_ERR_BAD_MODEL = 3,        /* the file is not a usable SmallThinker GGUF */
  ST_ERR_BUFFER_TOO_SMALL = 4, /* the size needed was stored; call again with a larger buffer */
  ST_ERR_CONTEXT_FULL = 5,     /* the session's KV cache cannot hold the tokens */
  ST_ERR_OUT_OF_MEMORY = 6,
  ST_ERR_NO_TOKENIZER = 7,     /* the model file has no tokenizer: use token ids */
  ST_ERR_RUNTIME = 8,          /* any other failure; the message says what */
  ST_ERR_INTERNAL = 9          /* a bug: please report the message */
} st_status;

typedef struct st_model st_model;
typedef struct st_session st_session;
typedef struct st_sampler st_sampler;

/* ---- Versions and errors ---- */

SMALLTHINKER_EXPORT int st_api_version(void);            /* the library's SMALLTHINKER_API_VERSION */
SMALLTHINKER_EXPORT const char *st_version_string(void); /* the release, e.g. "0.1.0" */
SMALLTHINKER_EXPORT const char *st_status_name(st_status status); /* "ST_OK", "ST_ERR_IO", ... */
SMALLTHINKER_EXPORT const char *st_last_error(void);     /* this thread's last failure ("" if none) */

/* ---- Model ---- */

/* Called while the weights are prepared with the bytes done so far and the total. */
typedef void (*st_progress_fn)(uint64_t done, uint64_t total, void *user_data);

typedef struct st_model_options {
  size_t struct_size;          /* sizeof(st_model_options); set by st_model_options_init */
  const char *path;            /* the GGUF file (copied during the call) */
  int32_t n_threads;           /* 0: one per physical core */
  uint64_t memory_budget;      /* bytes; 0: none (the file is mapped, every weight may stay in RAM).
                                  With a budget, experts stream from the file through a cache.
                                  It caps the whole process: what it holds before the model (its
                                  anonymous memory and every file it runs code from, e.g. a
                                  Python interpreter's libraries or sanitizer runtimes) counts.
                                  Below the minimum: ST_ERR_INVALID_ARGUMENT naming memory_budget
                                  and the minimum. */
  int64_t n_ctx;               /* context sessions get by default (and the memory plan reserves);
                                  0: the model's training context */
  st_progress_fn progress;     /* may be NULL */
  void *progress_user_data;
  /* v2 */
  const char *cache_policy;    /* under a budget, which experts the cache keeps: "lru", "lfu"
                                  (frequency with ageing) or "lfu_cyclic"; NULL: "lfu" */
  const char *kv_type_k;       /* element types of the KV cache: "f16", "bf16", "q8_0", "q4_0" */
  const char *kv_type_v;       /* or "f32"; what the memory plan sizes for and sessions use by
                                  default. NULL: "f16" */
  /* v3 */
  const char *chat_template;   /* the chat template: NULL or "": the file's tokenizer.chat_template
                                  (ChatML if it has none); "chatml": the built-in ChatML; else a
                                  file holding a Jinja template (or a tokenizer_config.json with
                                  a "chat_template" field), e.g. one that shows tools */
} st_model_options;

/* Fills *options with the defaults: 0 threads, no budget, n_ctx 4096, no progress, cache policy
 * lfu, f16 KV cache. */
SMALLTHINKER_EXPORT void st_model_options_init(st_model_options *options);

/* Loads a model; on success *out_model is the caller's (st_model_free). */
SMALLTHINKER_EXPORT st_status st_model_load(const st_model_options *options, st_model **out_model);
SMALLTHINKER_EXPORT void st_model_free(st_model *model);
SMALLTHINKER_EXPORT const char *st_model_last_error(const st_model *model);

typedef struct st_model_info {
  size_t struct_size;          /* set by the caller: sizeof(st_model_info) */
  char name[128];              /* general.name, truncated to fit, NUL-terminated */
  int32_t n_layer;
  int64_t n_embd;
  int32_t n_head, n_head_kv;
  int64_t head_dim;
  int32_t n_expert, n_expert_used;
  int64_t n_ff_exp;
  int64_t n_vocab;             /* rows of the logits */
  int64_t n_ctx_train;
  int32_t n_threads;           /* threads the model computes with */
  int32_t has_tokenizer;       /* 1 if tokenize/detokenize/chat work */
  uint64_t file_bytes;
} st_model_info;

SMALLTHINKER_EXPORT st_status st_model_get_info(st_model *model, st_model_info *info);

/* ---- Text ---- */

/* Tokenizes `text_len` bytes of `text` (UTF-8). parse_special != 0 turns special-token text
 * such as "<|im_start|>" into its id; 0 treats it as plain text (untrusted input). Writes up to
 * `capacity` ids and stores their count in *n_tokens (the count needed on BUFFER_TOO_SMALL). */
SMALLTHINKER_EXPORT st_status st_tokenize(st_model *model, const char *text, size_t text_len, int parse_special,
                             int32_t *tokens, size_t capacity, size_t *n_tokens);

/* The bytes `tokens` decode to (not NUL-terminated; control tokens decode to nothing). Stores
 * the length in *text_len (the length needed on BUFFER_TOO_SMALL). */
SMALLTHINKER_EXPORT st_status st_detokenize(st_model *model, const int32_t *tokens, size_t n_tokens, char *text,
                               size_t capacity, size_t *text_len);

typedef struct st_chat_message {
  const char *role;            /* "system" | "user" | "assistant" (NUL-terminated UTF-8) */
  const char *content;
} st_chat_message;

/* The model's chat template applied to the messages (+ the assistant prompt when
 * add_generation_prompt != 0), as text: written as for st_detokenize, plus a terminating NUL
 * when it fits (text_len does not count it). */
SMALLTHINKER_EXPORT st_status st_chat_apply_template(st_model *model, const st_chat_message *messages, size_t n_messages,
                                        int add_generation_prompt, char *text, size_t capacity, size_t *text_len);

/* The same rendering as token ids (message contents are encoded as plain text, so a user
 * cannot inject special tokens). */
SMALLTHINKER_EXPORT st_status st_chat_tokens(st_model *model, const st_chat_message *messages, size_t n_messages,
                                int add_generation_prompt, int32_t *tokens, size_t capacity, size_t *n_tokens);

/* v2. The tokens that end a generation (<|im_end|>, <|endoftext|>, eos), as for st_tokenize's
 * output; what st_session_generate stops at. */
SMALLTHINKER_EXPORT st_status st_model_stop_tokens(st_model *model, int32_t *tokens, size_t capacity, size_t *n_tokens);

/* v3. The chat template applied to OpenAI-shaped messages: `messages_json` a JSON array of
 * {"role", "content", "tool_calls", "tool_call_id", "name", ...} (roles system, user, assistant,
 * tool; assistant turns may carry tool_calls whose function.arguments is a JSON string or
 * object), `tools_json` a JSON array of OpenAI tools ({"type": "function", "function": {"name",
 * "description", "parameters"}}) that templates able to show tools render, or NULL/"" for none.
 * Both NUL-terminated UTF-8. Message contents are encoded as plain text (no special tokens
 * injected). Written as st_chat_tokens / st_chat_apply_template write. Malformed JSON is
 * ST_ERR_INVALID_ARGUMENT; a template that fails (its raise_exception) is ST_ERR_RUNTIME. */
SMALLTHINKER_EXPORT st_status st_chat_json_tokens(st_model *model, const char *messages_json, const char *tools_json,
                                                  int add_generation_prompt, int32_t *tokens, size_t capacity,
                                                  size_t *n_tokens);
SMALLTHINKER_EXPORT st_status st_chat_json_text(st_model *model, const char *messages_json, const char *tools_json,
                                                int add_generation_prompt, char *text, size_t capacity,
                                                size_t *text_len);

/* ---- Session: a KV cache over a model ---- */

typedef struct st_session_options {
  size_t struct_size;          /* sizeof(st_session_options); set by st_session_options_init */
  int64_t n_ctx;               /* tokens the KV cache holds; 0: the model options' n_ctx */
  int64_t n_batch;             /* prompt tokens per forward pass (default 512) */
  /* v2 */
  const char *kv_type_k;       /* KV cache element types (see st_model_options); NULL: the model */
  const char *kv_type_v;       /* options' */
} st_session_options;

SMALLTHINKER_EXPORT void st_session_options_init(st_session_options *options);
/* options may be NULL (the defaults). */
SMALLTHINKER_EXPORT st_status st_session_new(st_model *model, const st_session_options *options, st_session **out_session);
SMALLTHINKER_EXPORT void st_session_free(st_session *session);
SMALLTHINKER_EXPORT const char *st_session_last_error(const st_session *session);

/* Appends tokens to the context and computes the logits of the last one. */
SMALLTHINKER_EXPORT st_status st_session_eval(st_session *session, const int32_t *tokens, size_t n_tokens);
/* The last st_session_eval's logits: *n_vocab floats, owned by the session, valid until the
 * next eval, generate, reset or free of this session. */
SMALLTHINKER_EXPORT st_status st_session_logits(st_session *session, const float **logits, size_t *n_vocab);
SMALLTHINKER_EXPORT int64_t st_session_n_past(const st_session *session); /* tokens in the context; -1 for NULL */
SMALLTHINKER_EXPORT int64_t st_session_n_ctx(const st_session *session);  /* its capacity; -1 for NULL */
SMALLTHINKER_EXPORT st_status st_session_reset(st_session *session);      /* empties the context */

/* v2. The token ids the session's context holds, in order (as for st_tokenize's output). */
SMALLTHINKER_EXPORT st_status st_session_tokens(st_session *session, int32_t *tokens, size_t capacity, size_t *n_tokens);

/* v2. State save and restore. The state is the context's token ids (with a header naming the
 * model's vocabulary size), not the KV cache's bytes: st_session_load_state empties the session
 * and evaluates those tokens again, which gives the same KV cache and logits (evaluation is
 * deterministic) at the cost of a prompt evaluation. The state of a session can be loaded into
 * any session of a model with the same vocabulary whose context is large enough.
 * st_session_save_state writes as st_detokenize does (the size needed on BUFFER_TOO_SMALL). */
SMALLTHINKER_EXPORT st_status st_session_save_state(st_session *session, void *state, size_t capacity, size_t *state_size);
SMALLTHINKER_EXPORT st_status st_session_load_state(st_session *session, const void *state, size_t state_size);

/* What sparse ReGLU skipped in this session so far: ReGLU outputs computed (token x expert x
 * neuron) and how many were exactly zero. */
SMALLTHINKER_EXPORT st_status st_session_reglu_stats(st_session *session, uint64_t *neurons, uint64_t *zero);

/* Counters of the expert store since the model was loaded (all 0 without a memory budget).
 * Waits for a running forward pass of the model's sessions. */
typedef struct st_runtime_stats {
  size_t struct_size;          /* set by the caller: sizeof(st_runtime_stats) */
  int32_t budgeted;            /* 1: experts stream from the file through a cache */
  uint64_t expert_hits, expert_misses;
  double expert_hit_rate;
  uint64_t experts_read, bytes_read;
  double io_wait_seconds;
  /* v2 */
  int32_t cache_slots;         /* experts the cache holds at most */
  int32_t cache_resident;      /* ... and holds now */
  uint64_t prefetched;         /* reads started before attention (vs. at use) */
  uint64_t speculated;         /* reads started by look-ahead guesses */
  double lookahead_accuracy;   /* share of guessed experts the router then chose */
} st_runtime_stats;

SMALLTHINKER_EXPORT st_status st_model_runtime_stats(st_model *model, st_runtime_stats *stats);

/* ---- Sampling ---- */

typedef struct st_sampling_params {
  size_t struct_size;          /* sizeof(st_sampling_params); set by st_sampling_params_init */
  /* Ranges as the CLI's and the server's (one shared check; outside: ST_ERR_INVALID_ARGUMENT
   * naming the field): */
  float temperature;           /* 0..10; 0: greedy (the most likely token) */
  int32_t top_k;               /* >= 0; 0: off */
  float top_p;                 /* 0..1; 1: off */
  float min_p;                 /* 0..1; 0: off */
  float repeat_penalty;        /* > 0 and <= 10; 1: off */
  int32_t repeat_last_n;       /* >= 0: tokens the repeat penalty looks back on */
  float presence_penalty;      /* -2..2; 0: off */
  float frequency_penalty;     /* -2..2; 0: off */
  uint64_t seed;               /* UINT64_MAX: random */
  /* v2: constraints (need the model's tokenizer) */
  int32_t json_object;         /* != 0: only text that is one JSON object can be drawn, and an
                                  end-of-generation token only once it is complete */
  const char *json_schema;     /* a JSON Schema document (NUL-terminated; copied by st_sampler_new
                                  and st_session_generate): the object must also validate. The
                                  subset: objects of string/number/integer/boolean/enum/const
                                  properties; an unsupported keyword is ST_ERR_INVALID_ARGUMENT
                                  naming it. NULL: none */
} st_sampling_params;

/* Defaults as the CLI's: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1,
 * repeat_last_n 64, no presence/frequency penalty, random seed, no constraint. */
SMALLTHINKER_EXPORT void st_sampling_params_init(st_sampling_params *params);

/* A sampler picks tokens from logits (penalties -> top_k -> top_p -> min_p -> temperature ->
 * seeded draw) and remembers the tokens accepted for the penalties. */
SMALLTHINKER_EXPORT st_status st_sampler_new(st_model *model, const st_sampling_params *params, st_sampler **out_sampler);
SMALLTHINKER_EXPORT void st_sampler_free(st_sampler *sampler);
SMALLTHINKER_EXPORT const char *st_sampler_last_error(const st_sampler *sampler);
/* Picks a token from n_vocab logits (n_vocab must be the model's). Does not accept it. */
SMALLTHINKER_EXPORT st_status st_sampler_sample(st_sampler *sampler, const float *logits, size_t n_vocab, int32_t *token);
/* Records generated tokens: for the penalties and, with a constraint, to advance it (so a
 * token the constraint forbids is ST_ERR_INVALID_ARGUMENT). */
SMALLTHINKER_EXPORT st_status st_sampler_accept(st_sampler *sampler, const int32_t *tokens, size_t n_tokens);
/* v2. Records prompt tokens: for the penalties only (the constraint applies to generated text). */
SMALLTHINKER_EXPORT st_status st_sampler_accept_prompt(st_sampler *sampler, const int32_t *tokens, size_t n_tokens);
/* v2. st_sampler_sample, also reporting log-probabilities (natural log) of the distribution the
 * token was drawn from, after the penalties and the constraint (a forbidden token: -INFINITY)
 * and before temperature and the top-k/top-p/min-p cuts: *logprob of the chosen token and the
 * n_top most likely tokens, most likely first, into top_tokens/top_logprobs (n_top each; may
 * be NULL when n_top is 0). */
SMALLTHINKER_EXPORT st_status st_sampler_sample_logprobs(st_sampler *sampler, const float *logits, size_t n_vocab,
                                                         int32_t *token, float *logprob, size_t n_top,
                                                         int32_t *top_tokens, float *top_logprobs);
/* v2. *complete = 1 when the constrained output so far is a whole JSON value, 0 while it is not
 * (always 1 without a constraint). */
SMALLTHINKER_EXPORT st_status st_sampler_json_complete(st_sampler *sampler, int *complete);

/* v3. Tool calls, in the Qwen/Hermes convention the engine's server uses:
 *   text <tool_call>{"name": "f", "arguments": {...}}</tool_call> <tool_call>...</tool_call>
 * A sampler whose output may contain such calls: from a call's open tag on, its JSON is
 * constrained to {"name": one of `tools`, "arguments": an object valid for that tool's
 * parameters schema (the json_schema subset)}. Parsing the calls out of the text is the
 * caller's (the format above). */
typedef struct st_tool {
  const char *name;            /* the function's name (NUL-terminated, non-empty) */
  const char *parameters;      /* JSON Schema text of its arguments object; NULL or "": none */
} st_tool;

typedef enum st_tool_choice {
  ST_TOOL_CHOICE_AUTO = 0,     /* free text, or calls (constrained from their open tag on) */
  ST_TOOL_CHOICE_REQUIRED = 1, /* the reply starts with a call; for one named function, pass
                                  only that tool with REQUIRED */
  ST_TOOL_CHOICE_NONE = 2,     /* no call: the open tag cannot be written */
  ST_TOOL_CHOICE_MAX_ = 0x7fffffff /* not a choice: makes every int32 value a defined value of the
                                      type (refused as ST_ERR_INVALID_ARGUMENT) */
} st_tool_choice;

/* A sampler (as st_sampler_new) constrained to tool calls. params may be NULL (the defaults)
 * but must not ask for a JSON constraint (json_object/json_schema: ST_ERR_INVALID_ARGUMENT).
 * parallel_calls != 0 lets the reply hold several calls. A schema the constraint cannot
 * express is ST_ERR_INVALID_ARGUMENT naming "tools[i].parameters" and the keyword. */
SMALLTHINKER_EXPORT st_status st_sampler_new_tools(st_model *model, const st_sampling_params *params,
                                                   const st_tool *tools, size_t n_tools, st_tool_choice choice,
                                                   int parallel_calls, st_sampler **out_sampler);

/* ---- Generation ---- */

/* Called once per generated token with its id and the text it completes (UTF-8; may be empty
 * while a character spans several tokens; not NUL-terminated; ill-formed bytes become U+FFFD).
 * Bytes of a character still unfinished when generation ends are not passed on: detokenize the
 * ids for the exact bytes. Return non-zero to go on, 0 to stop after this token. */
typedef int (*st_token_fn)(int32_t token, const char *text, size_t text_len, void *user_data);

/* Evaluates `prompt` (at least one token) after what the session holds, then samples up to
 * n_predict tokens (0: only evaluate; -1: no limit, as in the CLI; below -1: refused),
 * stopping early at an end-of-generation token (<|im_end|>, eos; reported to the callback
 * too), when the callback returns 0 or when the context is full. params may be NULL (the
 * defaults; its JSON constraint applies), on_token may be NULL. *n_generated (may be NULL)
 * gets the tokens generated.
 * The callback runs while the model's compute lock is held: it must not evaluate or generate
 * with a session of the same model (that would wait for itself). */
SMALLTHINKER_EXPORT st_status st_session_generate(st_session *session, const int32_t *prompt, size_t n_prompt, int32_t n_predict,
                                     const st_sampling_params *params, st_token_fn on_token, void *user_data,
                                     size_t *n_generated);

#ifdef __cplusplus
}
#endif

#endif /* SMALLTHINKER_H */
