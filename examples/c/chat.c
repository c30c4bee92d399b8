/* Asks a SmallThinker model one question through the C API and streams its answer.
 *   chat MODEL.gguf [QUESTION] [MAX_TOKENS]
 * Build against an installed smallthinker:
 *   cc -std=c99 -o chat chat.c $(pkg-config --cflags --libs smallthinker)
 * (or `make`). Greedy decoding, so the answer equals `smallthinker run --chat --temp 0`. */
#include <stdio.h>
#include <stdlib.h>

#include <smallthinker.h>

/* Each generated token arrives with the text it completes: print it as it comes. */
static int print_piece(int32_t token, const char *text, size_t text_len, void *user_data) {
  (void)token;
  (void)user_data;
  fwrite(text, 1, text_len, stdout);
  fflush(stdout);
  return 1; /* go on; 0 would stop the generation here */
}

static int fail(const char *what, st_status status) {
  fprintf(stderr, "chat: %s failed (%s): %s\n", what, st_status_name(status), st_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *question = argc > 2 ? argv[2] : "Who made the heaven and the earth?";
  const int n_predict = argc > 3 ? atoi(argv[3]) : 64;
  st_model_options options;
  st_model *model = NULL;
  st_session *session = NULL;
  st_sampling_params sampling;
  st_chat_message message;
  int32_t prompt[1024];
  size_t n_prompt = 0, n_generated = 0;
  st_status s;
  int rc = 1;

  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.gguf [QUESTION] [MAX_TOKENS]\n", argv[0]);
    return 2;
  }
  st_model_options_init(&options);
  options.path = argv[1];
  options.n_ctx = 1024;
  if ((s = st_model_load(&options, &model)) != ST_OK) return fail("loading the model", s);

  message.role = "user";
  message.content = question;
  sampling.struct_size = 0;
  st_sampling_params_init(&sampling);
  sampling.temperature = 0; /* greedy */
  if ((s = st_chat_tokens(model, &message, 1, 1, prompt, sizeof prompt / sizeof prompt[0], &n_prompt)) != ST_OK) {
    fail("rendering the chat prompt", s);
  } else if ((s = st_session_new(model, NULL, &session)) != ST_OK) {
    fail("creating a session", s);
  } else if ((s = st_session_generate(session, prompt, n_prompt, n_predict, &sampling, print_piece, NULL,
                                      &n_generated)) != ST_OK) {
    fail("generating", s);
  } else {
    printf("\n");
    fprintf(stderr, "chat: %zu prompt tokens, %zu generated\n", n_prompt, n_generated);
    rc = 0;
  }
  st_session_free(session);
  st_model_free(model);
  return rc;
}
