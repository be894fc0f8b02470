/* fastrnn's C ABI: the recurrent kernels (SimpleRNN, LSTM, GRU; forward and backpropagation
 * through time) behind an opaque handle, for C and for other languages through their FFI.
 * Link the shared library fastrnn::fastrnn_c (libfastrnn_c.so). Pure C99; usable from C++.
 *
 *   fastrnn_kernel* k;
 *   if (fastrnn_kernel_create("lstm", D, H, NULL, FASTRNN_FLOAT32, &k) != FASTRNN_OK)
 *     fprintf(stderr, "%s\n", fastrnn_last_error());
 *   fastrnn_kernel_bind_weights(k, kernel, recurrent_kernel, bias);
 *   fastrnn_forward_args f = {0};   f.batch = B; f.steps = T; f.x = x; f.outputs = y;
 *   f.h_n = h; f.c_n = c; f.training = 1;
 *   fastrnn_kernel_forward(k, &f);
 *   fastrnn_backward_args b = {0};  b.d_outputs = dy; b.d_x = dx; b.d_kernel = dk;
 *   b.d_recurrent_kernel = drk; b.d_bias = db;
 *   fastrnn_kernel_backward(k, &b);
 *   fastrnn_kernel_destroy(k);
 *
 * Arrays: dense, row-major (C order), of the handle's element type (float for
 * FASTRNN_FLOAT32, double for FASTRNN_FLOAT64), with Keras' shapes and gate orders (B batch,
 * T steps, D input features, H units, G gates: SimpleRNN 1, LSTM 4 (i, f, c, o), GRU 3
 * (z, r, h)): x [B,T,D], outputs [B,T,H], states [B,H], kernel [D,G*H], recurrent_kernel
 * [H,G*H], bias [bias_rows,G*H] (GRU with reset_after: 2 rows, input then recurrent bias);
 * fastrnn_kernel_describe gives G, the state count and the weights' sizes. Masks are uint8
 * [B,T], 1 = valid step. Everything else about the computation (masking, go_backwards,
 * dropout groups, which gradients are written) is fastrnn's C++ API's, documented in
 * <fastrnn/common.hpp>, <fastrnn/rnn.hpp> and <fastrnn/kernel.hpp>.
 *
 * Ownership: the caller owns every array (inputs, weights, outputs, gradients); the handle owns
 * its training cache and workspaces and frees them in fastrnn_kernel_destroy. The handle keeps
 * POINTERS, not copies: the bound weights are read at every call, and the x, mask and dropout
 * masks of a training forward are read again by its backward; keep them alive and unchanged
 * until then.
 *
 * Errors: the functions returning `int` return a status, FASTRNN_OK (0) or an error code; no
 * function lets a C++ exception out. fastrnn_last_error() is the message of the calling
 * thread's last status-returning call ("" after a success).
 *
 * Threads: inference forwards (training == 0) on one handle may run concurrently from several
 * threads; a training forward and a backward run one at a time (a second one meanwhile fails
 * with FASTRNN_ERROR_STATE); fastrnn_kernel_bind_weights must not run concurrently with calls.
 * Handles are independent of each other.
 */
#ifndef FASTRNN_FASTRNN_C_H
#define FASTRNN_FASTRNN_C_H

#include <stdint.h>

#if defined(_WIN32)
#define FASTRNN_C_EXPORT __declspec(dllexport)
#define FASTRNN_C_IMPORT __declspec(dllimport)
#else
#define FASTRNN_C_EXPORT __attribute__((visibility("default")))
#define FASTRNN_C_IMPORT
#endif
#ifdef FASTRNN_C_BUILD
#define FASTRNN_C_API FASTRNN_C_EXPORT
#else
#define FASTRNN_C_API FASTRNN_C_IMPORT
#endif
/* The functions never throw; C++ callers may rely on it. */
#ifdef __cplusplus
#define FASTRNN_C_NOEXCEPT noexcept
#else
#define FASTRNN_C_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a declaration below changes; compare with fastrnn_c_api_version(). */
#define FASTRNN_C_API_VERSION 1

enum {
  FASTRNN_OK = 0,
  FASTRNN_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, bad size, unknown name, ... */
  FASTRNN_ERROR_STATE = 2,            /* not now: forward before bind_weights, backward
                                         without a training forward, a training call while
                                         another one runs */
  FASTRNN_ERROR_OUT_OF_MEMORY = 3,
  FASTRNN_ERROR_INTERNAL = 4
};

/* Element types. */
enum { FASTRNN_FLOAT32 = 1, FASTRNN_FLOAT64 = 2 };

typedef struct fastrnn_kernel fastrnn_kernel; /* opaque */

/* A layer's options, Keras' names. fastrnn_options_init fills Keras' defaults. */
typedef struct fastrnn_options {
  const char* activation;           /* "tanh" (NULL: "tanh"); see fastrnn/common.hpp */
  const char* recurrent_activation; /* "sigmoid" (NULL: "sigmoid"); LSTM and GRU only */
  int32_t use_bias;                 /* 1 */
  int32_t reset_after;              /* 1; GRU only */
  int32_t go_backwards;             /* 0 */
  int32_t zero_output_for_mask;     /* 0 */
} fastrnn_options;

/* What a handle computes, and the sizes (in elements) of its weights. */
typedef struct fastrnn_kernel_info {
  int32_t dtype;                 /* FASTRNN_FLOAT32 or FASTRNN_FLOAT64 */
  int32_t gates;                 /* G */
  int32_t states;                /* 1 (h) or 2 (h and c: LSTM) */
  int32_t bias_rows;             /* rows of G*H values in the bias; 0 without use_bias */
  int64_t input_dim;             /* D */
  int64_t units;                 /* H */
  int64_t kernel_size;           /* D*G*H */
  int64_t recurrent_kernel_size; /* H*G*H */
  int64_t bias_size;             /* bias_rows*G*H */
} fastrnn_kernel_info;

/* One forward call. Pointers marked (NULL) may be null; c0 and c_n only for 2-state cells. */
typedef struct fastrnn_forward_args {
  int64_t batch, steps;              /* B >= 0, T >= 0 */
  const void* x;                     /* [B,T,D] */
  const void* h0;                    /* [B,H] (NULL: zeros) */
  const void* c0;                    /* [B,H] (NULL: zeros) */
  const uint8_t* mask;               /* [B,T] (NULL: all valid) */
  const void* input_dropout;         /* [groups,B,D] scaled masks (NULL when groups == 0) */
  int32_t input_dropout_groups;      /* 0, 1 (all gates) or G (one per gate) */
  const void* recurrent_dropout;     /* [groups,B,H] (NULL when groups == 0) */
  int32_t recurrent_dropout_groups;  /* 0, 1 or G */
  void* outputs;                     /* [B,T,H] written (NULL: not written) */
  void* last_output;                 /* [B,H] written (NULL: not written) */
  void* h_n;                         /* [B,H] written (NULL: not written) */
  void* c_n;                         /* [B,H] written (NULL: not written) */
  int32_t training;                  /* 1: keep what the backward needs */
} fastrnn_forward_args;

/* The backward of the handle's last training forward (its B and T). Upstream gradients may be
 * NULL (zeros); the gradients are WRITTEN, never accumulated. */
typedef struct fastrnn_backward_args {
  const void* d_outputs;    /* [B,T,H] (NULL) */
  const void* d_last;       /* [B,H], added to the last output's gradient (NULL) */
  const void* d_h_n;        /* [B,H] (NULL) */
  const void* d_c_n;        /* [B,H] (NULL) */
  void* d_x;                /* [B,T,D] (NULL: not computed) */
  void* d_kernel;           /* [D,G*H] required */
  void* d_recurrent_kernel; /* [H,G*H] required */
  void* d_bias;             /* [bias_size], required with use_bias, NULL without */
  void* d_h0;               /* [B,H] (NULL: not computed) */
  void* d_c0;               /* [B,H] (NULL: not computed) */
} fastrnn_backward_args;

FASTRNN_C_API int32_t fastrnn_c_api_version(void) FASTRNN_C_NOEXCEPT;
/* The library's version, "MAJOR.MINOR.PATCH" (static storage). */
FASTRNN_C_API const char* fastrnn_version(void) FASTRNN_C_NOEXCEPT;
/* The message of the calling thread's last status-returning call (static storage, valid
 * until that thread's next such call). */
FASTRNN_C_API const char* fastrnn_last_error(void) FASTRNN_C_NOEXCEPT;

FASTRNN_C_API void fastrnn_options_init(fastrnn_options* options) FASTRNN_C_NOEXCEPT;

/* A kernel for `cell` ("simple_rnn", "lstm", "gru"), D = input_dim >= 1, H = units >= 1,
 * options (NULL: Keras' defaults) and dtype. *out is the new handle, or NULL on error. */
FASTRNN_C_API int fastrnn_kernel_create(const char* cell, int64_t input_dim, int64_t units,
                                        const fastrnn_options* options, int32_t dtype,
                                        fastrnn_kernel** out) FASTRNN_C_NOEXCEPT;
/* Frees the handle and everything it owns; NULL is ignored. */
FASTRNN_C_API void fastrnn_kernel_destroy(fastrnn_kernel* kernel) FASTRNN_C_NOEXCEPT;

FASTRNN_C_API int fastrnn_kernel_describe(const fastrnn_kernel* kernel,
                                          fastrnn_kernel_info* info) FASTRNN_C_NOEXCEPT;

/* The weights the calls use, kept by pointer: kernel [D,G*H], recurrent_kernel [H,G*H],
 * bias [bias_size] (required with use_bias, NULL without). */
FASTRNN_C_API int fastrnn_kernel_bind_weights(fastrnn_kernel* kernel, const void* kernel_weights,
                                              const void* recurrent_kernel,
                                              const void* bias) FASTRNN_C_NOEXCEPT;

FASTRNN_C_API int fastrnn_kernel_forward(fastrnn_kernel* kernel,
                                         const fastrnn_forward_args* args) FASTRNN_C_NOEXCEPT;
FASTRNN_C_API int fastrnn_kernel_backward(fastrnn_kernel* kernel,
                                          const fastrnn_backward_args* args) FASTRNN_C_NOEXCEPT;

/* The kernels' thread count (n >= 1; always 1 in a build without OpenMP), process-wide. */
FASTRNN_C_API int fastrnn_set_num_threads(int32_t n) FASTRNN_C_NOEXCEPT;
FASTRNN_C_API int32_t fastrnn_get_num_threads(void) FASTRNN_C_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* FASTRNN_FASTRNN_C_H */
