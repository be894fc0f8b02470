/* fastrnn's C ABI on bad calls: each returns its error code with a message naming what is
 * wrong, nothing crashes, and the handle still works afterwards.
 *
 *   c_errors     exit 0 when every call behaves
 */
#include <fastrnn/fastrnn_c.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;

/* The call returned `code`, and the thread's message contains `fragment` ("" after success). */
static void expect(int line, const char* call, int got, int code, const char* fragment) {
  const char* message = fastrnn_last_error();
  const int message_ok = code == FASTRNN_OK ? message[0] == '\0' : strstr(message, fragment) != NULL;
  if (got != code || !message_ok) {
    fprintf(stderr, "line %d: %s\n  returned %d with message '%s'; expected %d with '%s'\n", line,
            call, got, message, code, fragment);
    ++failures;
  }
}
#define EXPECT(call, code, fragment) expect(__LINE__, #call, (call), (code), (fragment))

enum { D = 3, H = 2 };

int main(void) {
  fastrnn_kernel* k = (fastrnn_kernel*)&failures; /* not a handle: must be reset to NULL */
  fastrnn_kernel* gru = NULL;
  fastrnn_options options;
  fastrnn_kernel_info info;
  fastrnn_forward_args f;
  fastrnn_backward_args b;
  float w[D * 4 * H] = {0}, rw[H * 4 * H] = {0}, bias[4 * H] = {0};
  float x[2 * 3 * D] = {0}, y[2 * 3 * H], h[2 * H], c[2 * H];
  float dw[D * 4 * H], drw[H * 4 * H], dbias[4 * H];

  /* Creation. */
  EXPECT(fastrnn_kernel_create("lstmx", D, H, NULL, FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT, "cell: expected one of 'simple_rnn', 'lstm', 'gru', got 'lstmx'");
  if (k != NULL) {
    fprintf(stderr, "a failed create left *out = %p\n", (void*)k);
    ++failures;
  }
  EXPECT(fastrnn_kernel_create(NULL, D, H, NULL, FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT, "cell: expected a pointer, got NULL");
  EXPECT(fastrnn_kernel_create("lstm", 0, H, NULL, FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT, "input_dim: expected >= 1, got 0");
  EXPECT(fastrnn_kernel_create("lstm", D, -3, NULL, FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT, "units: expected >= 1, got -3");
  EXPECT(fastrnn_kernel_create("lstm", (int64_t)1 << 40, (int64_t)1 << 40, NULL,
                               FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT, "too large to address");
  EXPECT(fastrnn_kernel_create("lstm", D, H, NULL, 7, &k), FASTRNN_ERROR_INVALID_ARGUMENT,
         "dtype: expected FASTRNN_FLOAT32 (1) or FASTRNN_FLOAT64 (2), got 7");
  EXPECT(fastrnn_kernel_create("lstm", D, H, NULL, FASTRNN_FLOAT32, NULL),
         FASTRNN_ERROR_INVALID_ARGUMENT, "out: expected a pointer, got NULL");
  fastrnn_options_init(&options);
  options.recurrent_activation = "softsign";
  EXPECT(fastrnn_kernel_create("lstm", D, H, &options, FASTRNN_FLOAT32, &k),
         FASTRNN_ERROR_INVALID_ARGUMENT,
         "options->recurrent_activation: expected one of 'tanh', 'sigmoid'");
  EXPECT(fastrnn_set_num_threads(0), FASTRNN_ERROR_INVALID_ARGUMENT, "n: expected >= 1, got 0");

  /* Calls in the wrong order, and NULL handles. */
  EXPECT(fastrnn_kernel_create("lstm", D, H, NULL, FASTRNN_FLOAT32, &k), FASTRNN_OK, "");
  memset(&f, 0, sizeof f);
  f.batch = 2;
  f.steps = 3;
  f.x = x;
  f.outputs = y;
  f.h_n = h;
  f.c_n = c;
  f.training = 1;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_STATE, "forward before bind_weights");
  memset(&b, 0, sizeof b);
  b.d_kernel = dw;
  b.d_recurrent_kernel = drw;
  b.d_bias = dbias;
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_ERROR_STATE, "backward without a training forward");
  EXPECT(fastrnn_kernel_forward(NULL, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "kernel: expected a pointer, got NULL");
  EXPECT(fastrnn_kernel_backward(NULL, &b), FASTRNN_ERROR_INVALID_ARGUMENT, "kernel: expected a pointer");
  EXPECT(fastrnn_kernel_describe(NULL, &info), FASTRNN_ERROR_INVALID_ARGUMENT, "kernel: expected a pointer");
  EXPECT(fastrnn_kernel_describe(k, NULL), FASTRNN_ERROR_INVALID_ARGUMENT, "info: expected a pointer");
  EXPECT(fastrnn_kernel_bind_weights(NULL, w, rw, bias), FASTRNN_ERROR_INVALID_ARGUMENT, "kernel: expected a pointer");
  fastrnn_kernel_destroy(NULL);

  /* Weights. */
  EXPECT(fastrnn_kernel_bind_weights(k, NULL, rw, bias), FASTRNN_ERROR_INVALID_ARGUMENT, "kernel_weights: expected a pointer, got NULL");
  EXPECT(fastrnn_kernel_bind_weights(k, w, rw, NULL), FASTRNN_ERROR_INVALID_ARGUMENT, "bias: expected a pointer, got NULL");
  EXPECT(fastrnn_kernel_bind_weights(k, w, rw, bias), FASTRNN_OK, "");

  /* Per-call arguments. */
  EXPECT(fastrnn_kernel_forward(k, NULL), FASTRNN_ERROR_INVALID_ARGUMENT, "args: expected a pointer, got NULL");
  f.batch = -1;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "args->batch: expected >= 0, got -1");
  f.batch = 2;
  f.x = NULL;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "args->x: expected a pointer, got NULL");
  f.x = x;
  f.input_dropout_groups = 2;
  f.input_dropout = x;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "args->input_dropout_groups: expected 0, 1 or 4, got 2");
  f.input_dropout_groups = 0;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "args->input_dropout: expected NULL when input_dropout_groups is 0");
  f.input_dropout = NULL;
  f.steps = (int64_t)1 << 40;
  f.batch = (int64_t)1 << 40;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_INVALID_ARGUMENT, "too large to address");
  /* Addressable but more memory than any machine has: the training cache cannot be allocated. */
  f.batch = (int64_t)1 << 22;
  f.steps = (int64_t)1 << 24;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_ERROR_OUT_OF_MEMORY, "out of memory");
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_ERROR_STATE, "backward without a training forward");
  f.batch = 2;
  f.steps = 3;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_OK, "");
  b.d_kernel = NULL;
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_ERROR_INVALID_ARGUMENT, "args->d_kernel: expected a pointer, got NULL");
  b.d_kernel = dw;
  b.d_bias = NULL;
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_ERROR_INVALID_ARGUMENT, "args->d_bias: expected a pointer, got NULL");
  b.d_bias = dbias;
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_OK, "");
  /* An empty batch is no error (x may then be NULL); its gradients are zeros. */
  f.batch = 0;
  f.x = NULL;
  EXPECT(fastrnn_kernel_forward(k, &f), FASTRNN_OK, "");
  dw[0] = 1.0f;
  EXPECT(fastrnn_kernel_backward(k, &b), FASTRNN_OK, "");
  if (dw[0] != 0.0f) {
    fprintf(stderr, "backward of an empty batch: d_kernel[0] = %g, expected 0\n", dw[0]);
    ++failures;
  }
  f.batch = 2;
  f.x = x;
  EXPECT(fastrnn_kernel_describe(k, &info), FASTRNN_OK, "");
  if (info.gates != 4 || info.states != 2 || info.bias_size != 4 * H || info.kernel_size != D * 4 * H) {
    fprintf(stderr, "describe: gates %d, states %d, bias_size %lld, kernel_size %lld\n", (int)info.gates,
            (int)info.states, (long long)info.bias_size, (long long)info.kernel_size);
    ++failures;
  }
  fastrnn_kernel_destroy(k);

  /* What only a two-state cell takes, and a bias the kernel does not have. */
  fastrnn_options_init(&options);
  options.use_bias = 0;
  EXPECT(fastrnn_kernel_create("gru", D, H, &options, FASTRNN_FLOAT64, &gru), FASTRNN_OK, "");
  EXPECT(fastrnn_kernel_bind_weights(gru, w, rw, bias), FASTRNN_ERROR_INVALID_ARGUMENT,
         "bias: expected NULL (the kernel was created with use_bias = 0)");
  EXPECT(fastrnn_kernel_bind_weights(gru, w, rw, NULL), FASTRNN_OK, "");
  EXPECT(fastrnn_kernel_forward(gru, &f), FASTRNN_ERROR_INVALID_ARGUMENT,
         "args->c_n: expected NULL (cell 'gru' has one state)");
  fastrnn_kernel_destroy(gru);

  printf("C ABI error handling: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
