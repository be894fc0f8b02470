/* Reading a case written by make_data.py, and comparing results with its expectations
 * (C99, shared by the C and C++ examples). Errors are printed to stderr. */
#ifndef FASTRNN_EXAMPLE_CASE_DATA_H
#define FASTRNN_EXAMPLE_CASE_DATA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct case_meta {
  char cell[64];
  int64_t batch, steps, input_dim, units;
  int reset_after, go_backwards, masked;
} case_meta;

/* 0 on success. */
int read_meta(const char* dir, case_meta* meta);

/* The contents of DIR/NAME.bin, which must hold exactly count elements of elem_size bytes, in
 * a malloc'ed buffer (free it); NULL on error. */
void* read_array(const char* dir, const char* name, size_t count, size_t elem_size);

/* How many of got[i] miss |got - ref| <= atol + rtol * |ref| (or are not finite); prints the
 * first misses. */
size_t count_mismatches(const char* what, const float* got, const float* ref, size_t count);

#ifdef __cplusplus
}
#endif

#endif
