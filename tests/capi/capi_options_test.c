/* Tries option values through the C API, one per line of standard input, and prints for each
 * whether the C API accepted it: "ok", or "refused<TAB>status<TAB>message". Driven by
 * run_capi_options.py, which gives the same values to the CLI and compares.
 *
 * Input lines: "KIND FIELD VALUE", KIND one of
 *   sampling  temperature|top_k|top_p|min_p|repeat_penalty|repeat_last_n|presence_penalty|frequency_penalty
 *             (st_session_generate of 1 token with these st_sampling_params)
 *   generate  n_predict           (st_session_generate, greedy, n_predict = VALUE)
 *   model     n_threads|n_ctx     (st_model_load with this st_model_options field)
 *   session   n_ctx|n_batch       (st_session_new with this st_session_options field)
 * Usage: capi_options_test MODEL.gguf N_CTX < cases */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smallthinker.h"

static const char *model_path;
static int64_t model_ctx;

static st_model_options base_model_options(void) {
  st_model_options o;
  st_model_options_init(&o);
  o.path = model_path;
  o.n_threads = 1;
  o.n_ctx = model_ctx;
  return o;
}

static void report(st_status s) {
  if (s == ST_OK) printf("ok\n");
  else printf("refused\t%d\t%s\n", (int)s, st_last_error());
  fflush(stdout);
}

static int set_sampling(st_sampling_params *p, const char *field, double v) {
  if (!strcmp(field, "temperature")) p->temperature = (float)v;
  else if (!strcmp(field, "top_k")) p->top_k = (int32_t)v;
  else if (!strcmp(field, "top_p")) p->top_p = (float)v;
  else if (!strcmp(field, "min_p")) p->min_p = (float)v;
  else if (!strcmp(field, "repeat_penalty")) p->repeat_penalty = (float)v;
  else if (!strcmp(field, "repeat_last_n")) p->repeat_last_n = (int32_t)v;
  else if (!strcmp(field, "presence_penalty")) p->presence_penalty = (float)v;
  else if (!strcmp(field, "frequency_penalty")) p->frequency_penalty = (float)v;
  else return 0;
  return 1;
}

/* One generation on a fresh session: the prompt is two token ids. */
static st_status generate(st_model *m, const st_sampling_params *p, int32_t n_predict) {
  const int32_t prompt[2] = {1, 2};
  st_session *s = NULL;
  size_t n = 0;
  st_status status = st_session_new(m, NULL, &s);
  if (status != ST_OK) return status;
  status = st_session_generate(s, prompt, 2, n_predict, p, NULL, NULL, &n);
  /* -1 must generate (until a stop token or the context), not nothing. */
  if (status == ST_OK && n_predict < 0 && n == 0) {
    printf("refused\t0\tn_predict -1 generated nothing\n");
    st_session_free(s);
    return (st_status)-1000;
  }
  st_session_free(s);
  return status;
}

static st_status try_case(st_model *m, const char *kind, const char *field, double v) {
  if (!strcmp(kind, "sampling")) {
    st_sampling_params p;
    st_sampling_params_init(&p);
    p.temperature = 0;
    p.seed = 1;
    if (!set_sampling(&p, field, v)) return (st_status)-1001;
    return generate(m, &p, 1);
  }
  if (!strcmp(kind, "generate")) return generate(m, NULL, (int32_t)v);
  if (!strcmp(kind, "model")) {
    st_model_options o = base_model_options();
    st_model *loaded = NULL;
    st_status s;
    if (!strcmp(field, "n_threads")) o.n_threads = (int32_t)v;
    else if (!strcmp(field, "n_ctx")) o.n_ctx = (int64_t)v;
    else return (st_status)-1001;
    s = st_model_load(&o, &loaded);
    st_model_free(loaded);
    return s;
  }
  if (!strcmp(kind, "session")) {
    st_session_options o;
    st_session *s = NULL;
    st_status status;
    st_session_options_init(&o);
    if (!strcmp(field, "n_ctx")) o.n_ctx = (int64_t)v;
    else if (!strcmp(field, "n_batch")) o.n_batch = (int64_t)v;
    else return (st_status)-1001;
    status = st_session_new(m, &o, &s);
    st_session_free(s);
    return status;
  }
  return (st_status)-1001;
}

int main(int argc, char **argv) {
  char kind[32], field[32], value[64];
  st_model *m = NULL;
  st_model_options o;
  if (argc != 3) {
    fprintf(stderr, "usage: capi_options_test MODEL.gguf N_CTX < cases\n");
    return 2;
  }
  model_path = argv[1];
  model_ctx = atoll(argv[2]);
  o = base_model_options();
  if (st_model_load(&o, &m) != ST_OK) {
    fprintf(stderr, "cannot load %s: %s\n", model_path, st_last_error());
    return 1;
  }
  while (scanf("%31s %31s %63s", kind, field, value) == 3) {
    const st_status s = try_case(m, kind, field, strtod(value, NULL));
    if (s == (st_status)-1001) {
      fprintf(stderr, "unknown case: %s %s\n", kind, field);
      return 2;
    }
    if (s != (st_status)-1000) report(s);
  }
  st_model_free(m);
  return 0;
}
