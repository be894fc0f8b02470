/* An LSTM or GRU forward and backward through fastrnn's C ABI (fastrnn_c.h), in float32 and in
 * float64, checked against fastrnn's Python results for the same inputs (make_data.py).
 *
 *   c_check CASE_DIR     exit 0 when every output and gradient matches
 */
#include <fastrnn/fastrnn_c.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_data.h"

/* Every buffer of a run, freed together at its end. */
static void* buffers[64];
static int n_buffers = 0;

static void* keep(void* p) {
  if (!p || n_buffers == 64) {
    fprintf(stderr, "c_check: no buffer (unreadable file, no memory or no slot left)\n");
    exit(1);
  }
  return buffers[n_buffers++] = p;
}

static void free_all(void) {
  while (n_buffers > 0) free(buffers[--n_buffers]);
}

static size_t elem_size(int dtype) { return dtype == FASTRNN_FLOAT64 ? sizeof(double) : sizeof(float); }

/* A zeroed buffer of n elements of dtype. */
static void* zeros(size_t n, int dtype) { return keep(calloc(n ? n : 1, elem_size(dtype))); }

/* NAME.bin (float32) of the case, as dtype. */
static void* input(const char* dir, const char* name, size_t n, int dtype) {
  float* f = (float*)keep(read_array(dir, name, n, sizeof(float)));
  double* d;
  size_t i;
  if (dtype == FASTRNN_FLOAT32) return f;
  d = (double*)zeros(n, dtype);
  for (i = 0; i < n; ++i) d[i] = f[i];
  return d;
}

/* Mismatches between a result of dtype and the case's expected NAME.bin. */
static size_t compare(const char* dir, const char* name, const void* got, size_t n, int dtype) {
  const float* ref = (const float*)keep(read_array(dir, name, n, sizeof(float)));
  float* g = (float*)keep(malloc(n * sizeof(float) + 1));
  size_t i;
  for (i = 0; i < n; ++i)
    g[i] = dtype == FASTRNN_FLOAT64 ? (float)((const double*)got)[i] : ((const float*)got)[i];
  return count_mismatches(name, g, ref, n);
}

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != FASTRNN_OK) {                                                      \
      fprintf(stderr, "%s failed: %s\n", #call, fastrnn_last_error());               \
      return 1000;                                                                   \
    }                                                                                \
  } while (0)

/* Mismatches of one run (1000 when a call fails). */
static size_t run(const char* dir, const case_meta* m, int dtype) {
  fastrnn_options options;
  fastrnn_kernel* k = NULL;
  fastrnn_kernel_info info;
  fastrnn_forward_args f;
  fastrnn_backward_args b;
  size_t B = (size_t)m->batch, T = (size_t)m->steps, D = (size_t)m->input_dim;
  size_t H = (size_t)m->units, BH, bad = 0;
  int lstm;
  void *w, *rw, *bias;

  fastrnn_options_init(&options);
  options.reset_after = m->reset_after;
  options.go_backwards = m->go_backwards;
  CHECK(fastrnn_kernel_create(m->cell, m->input_dim, m->units, &options, dtype, &k));
  CHECK(fastrnn_kernel_describe(k, &info));
  lstm = info.states == 2;
  BH = B * H;
  w = input(dir, "kernel", (size_t)info.kernel_size, dtype);
  rw = input(dir, "recurrent_kernel", (size_t)info.recurrent_kernel_size, dtype);
  bias = input(dir, "bias", (size_t)info.bias_size, dtype);
  CHECK(fastrnn_kernel_bind_weights(k, w, rw, bias));

  memset(&f, 0, sizeof f);
  f.batch = m->batch;
  f.steps = m->steps;
  f.x = input(dir, "x", B * T * D, dtype);
  f.h0 = input(dir, "h0", BH, dtype);
  f.c0 = lstm ? input(dir, "c0", BH, dtype) : NULL;
  f.mask = m->masked ? (const uint8_t*)keep(read_array(dir, "mask", B * T, 1)) : NULL;
  f.outputs = zeros(B * T * H, dtype);
  f.h_n = zeros(BH, dtype);
  f.c_n = lstm ? zeros(BH, dtype) : NULL;
  f.training = 1;
  CHECK(fastrnn_kernel_forward(k, &f));

  memset(&b, 0, sizeof b);
  b.d_outputs = input(dir, "d_outputs", B * T * H, dtype);
  b.d_h_n = input(dir, "d_h_n", BH, dtype);
  b.d_c_n = lstm ? input(dir, "d_c_n", BH, dtype) : NULL;
  b.d_x = zeros(B * T * D, dtype);
  b.d_kernel = zeros((size_t)info.kernel_size, dtype);
  b.d_recurrent_kernel = zeros((size_t)info.recurrent_kernel_size, dtype);
  b.d_bias = zeros((size_t)info.bias_size, dtype);
  b.d_h0 = zeros(BH, dtype);
  b.d_c0 = lstm ? zeros(BH, dtype) : NULL;
  CHECK(fastrnn_kernel_backward(k, &b));
  fastrnn_kernel_destroy(k);

  bad += compare(dir, "outputs", f.outputs, B * T * H, dtype);
  bad += compare(dir, "h_n", f.h_n, BH, dtype);
  bad += compare(dir, "d_x", b.d_x, B * T * D, dtype);
  bad += compare(dir, "d_kernel", b.d_kernel, (size_t)info.kernel_size, dtype);
  bad += compare(dir, "d_recurrent_kernel", b.d_recurrent_kernel,
                 (size_t)info.recurrent_kernel_size, dtype);
  bad += compare(dir, "d_bias", b.d_bias, (size_t)info.bias_size, dtype);
  bad += compare(dir, "d_h0", b.d_h0, BH, dtype);
  if (lstm) {
    bad += compare(dir, "c_n", f.c_n, BH, dtype);
    bad += compare(dir, "d_c0", b.d_c0, BH, dtype);
  }
  return bad;
}

int main(int argc, char** argv) {
  case_meta m;
  size_t bad32, bad64;
  if (argc != 2) {
    fprintf(stderr, "usage: c_check CASE_DIR\n");
    return 2;
  }
  if (fastrnn_c_api_version() != FASTRNN_C_API_VERSION) {
    fprintf(stderr, "libfastrnn_c has C API version %d, the header %d\n",
            (int)fastrnn_c_api_version(), FASTRNN_C_API_VERSION);
    return 1;
  }
  if (read_meta(argv[1], &m) != 0) return 1;
  bad32 = run(argv[1], &m, FASTRNN_FLOAT32);
  free_all();
  bad64 = run(argv[1], &m, FASTRNN_FLOAT64);
  free_all();
  printf("%s (C ABI, fastrnn %s): %zu mismatches in float32, %zu in float64\n", m.cell,
         fastrnn_version(), bad32, bad64);
  return bad32 == 0 && bad64 == 0 ? 0 : 1;
}
