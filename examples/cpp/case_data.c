#include "case_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* float32 results of the same kernels; only the summation order may differ (thread count). */
static const double kAtol = 1e-5, kRtol = 1e-5;

static FILE* open_in(const char* dir, const char* file) {
  char path[4096];
  FILE* f;
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) {
    fprintf(stderr, "path too long: %s/%s\n", dir, file);
    return NULL;
  }
  f = fopen(path, "rb");
  if (!f) fprintf(stderr, "cannot open %s\n", path);
  return f;
}

int read_meta(const char* dir, case_meta* m) {
  char key[64], value[64];
  int seen = 0;
  FILE* f = open_in(dir, "meta.txt");
  if (!f) return 1;
  memset(m, 0, sizeof *m);
  while (fscanf(f, "%63s %63s", key, value) == 2) {
    ++seen;
    if (strcmp(key, "cell") == 0) snprintf(m->cell, sizeof m->cell, "%s", value);
    else if (strcmp(key, "batch") == 0) m->batch = atoll(value);
    else if (strcmp(key, "steps") == 0) m->steps = atoll(value);
    else if (strcmp(key, "input_dim") == 0) m->input_dim = atoll(value);
    else if (strcmp(key, "units") == 0) m->units = atoll(value);
    else if (strcmp(key, "reset_after") == 0) m->reset_after = atoi(value);
    else if (strcmp(key, "go_backwards") == 0) m->go_backwards = atoi(value);
    else if (strcmp(key, "masked") == 0) m->masked = atoi(value);
    else --seen;
  }
  fclose(f);
  if (seen != 8) {
    fprintf(stderr, "%s/meta.txt: expected 8 known keys, got %d\n", dir, seen);
    return 1;
  }
  return 0;
}

void* read_array(const char* dir, const char* name, size_t count, size_t elem_size) {
  char file[256];
  FILE* f;
  void* data;
  long size;
  snprintf(file, sizeof file, "%s.bin", name);
  f = open_in(dir, file);
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc(count * elem_size + 1);
  if (size < 0 || (size_t)size != count * elem_size || !data ||
      fread(data, elem_size, count, f) != count) {
    fprintf(stderr, "%s/%s: expected %zu elements of %zu bytes, the file has %ld bytes\n", dir,
            file, count, elem_size, size);
    free(data);
    data = NULL;
  }
  fclose(f);
  return data;
}

size_t count_mismatches(const char* what, const float* got, const float* ref, size_t count) {
  size_t i, bad = 0;
  for (i = 0; i < count; ++i) {
    const double err = fabs((double)got[i] - (double)ref[i]);
    if (isfinite(got[i]) && err <= kAtol + kRtol * fabs((double)ref[i])) continue;
    if (++bad <= 3)
      fprintf(stderr, "%s[%zu]: got %.9g, expected %.9g\n", what, i, got[i], ref[i]);
  }
  if (bad) fprintf(stderr, "%s: %zu of %zu values differ\n", what, bad, count);
  return bad;
}
