// The C ABI (fastrnn/fastrnn_c.h) over fastrnn::RnnKernel. Every entry point runs its body in
// `guarded`, which turns each C++ exception into a status code and the thread's message; the
// checks here are the ones the C++ API leaves to its caller (null pointers, arguments that
// do not fit the cell, sizes whose byte counts overflow).
#include "fastrnn/fastrnn_c.h"

#include <cstdio>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "fastrnn/kernel.hpp"

struct fastrnn_kernel {
  int32_t dtype = 0;
  std::unique_ptr<fastrnn::RnnKernel<float>> f32;
  std::unique_ptr<fastrnn::RnnKernel<double>> f64;

  const fastrnn::RnnSpec& spec() const { return f32 ? f32->spec() : f64->spec(); }
  // Calls f on the typed kernel with the element type as its second argument's type.
  template <typename F>
  void visit(F&& f) {
    if (f32) f(*f32, float());
    else f(*f64, double());
  }
};

namespace {

using fastrnn::index_t;

thread_local char g_message[512];

void set_message(const char* function, const char* what) noexcept {
  std::snprintf(g_message, sizeof g_message, "%s: %s", function, what);
}

// std::invalid_argument with the message built from pieces.
[[noreturn]] void invalid(const std::string& what) { throw std::invalid_argument(what); }

template <typename Body>
int guarded(const char* function, Body&& body) noexcept {
  try {
    body();
    g_message[0] = '\0';
    return FASTRNN_OK;
  } catch (const std::bad_alloc&) {
    set_message(function, "out of memory");
    return FASTRNN_ERROR_OUT_OF_MEMORY;
  } catch (const std::length_error& e) {  // a container asked for more than it can hold
    set_message(function, e.what());
    return FASTRNN_ERROR_OUT_OF_MEMORY;
  } catch (const std::invalid_argument& e) {
    set_message(function, e.what());
    return FASTRNN_ERROR_INVALID_ARGUMENT;
  } catch (const std::logic_error& e) {  // RnnKernel: not bound, no training forward
    set_message(function, e.what());
    return FASTRNN_ERROR_STATE;
  } catch (const std::runtime_error& e) {  // RnnKernel: a training call already running
    set_message(function, e.what());
    return FASTRNN_ERROR_STATE;
  } catch (const std::exception& e) {
    set_message(function, e.what());
    return FASTRNN_ERROR_INTERNAL;
  } catch (...) {
    set_message(function, "unknown C++ exception");
    return FASTRNN_ERROR_INTERNAL;
  }
}

void require(const void* p, const char* name) {
  if (!p) invalid(std::string(name) + ": expected a pointer, got NULL");
}

fastrnn_kernel& handle(fastrnn_kernel* k) {
  require(k, "kernel");
  return *k;
}

std::string quoted_names(const char* (*name)(int), int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += std::string(i ? ", '" : "'") + name(i) + "'";
  return out;
}

const char* cell_name(int i) { return fastrnn::cell_info(static_cast<fastrnn::Cell>(i)).name; }
const char* activation_name(int i) {
  return fastrnn::activation_name(static_cast<fastrnn::Activation>(i));
}

fastrnn::Activation parse_activation(const char* name, fastrnn::Activation fallback,
                                     const char* field) {
  fastrnn::Activation a = fallback;
  if (name && !fastrnn::activation_from_name(name, &a))
    invalid(std::string("options->") + field + ": expected one of " +
            quoted_names(activation_name, fastrnn::kNumActivations) + ", got '" + name + "'");
  return a;
}

// Whether every buffer of a call with these sizes has a byte count far from overflowing: the
// kernels compute sizes such as B*T*(cache width) and threads*(D+H)*G*H in size_t. The bound
// (64 G*H values per sample and step, 256 threads' weight gradients, in doubles) is far above
// any cell's needs.
bool sizes_fit(index_t batch, index_t steps, index_t input, index_t hidden, int gates) {
  const double gh = double(gates) * double(hidden);
  const double per_step = double(batch) * double(steps) * (double(input) + 64.0 * gh + 64.0);
  const double weights = 256.0 * (double(input) + double(hidden) + 2.0) * gh;
  return (per_step + weights) * 8.0 < double(std::numeric_limits<std::int64_t>::max() / 4);
}

void check_forward(const fastrnn_kernel& k, const fastrnn_forward_args& a) {
  const fastrnn::RnnSpec& s = k.spec();
  const fastrnn::CellInfo& ci = fastrnn::cell_info(s.cell);
  if (a.batch < 0) invalid("args->batch: expected >= 0, got " + std::to_string(a.batch));
  if (a.steps < 0) invalid("args->steps: expected >= 0, got " + std::to_string(a.steps));
  if (!sizes_fit(a.batch, a.steps, s.input, s.hidden, ci.gates))
    invalid("args->batch, args->steps: " + std::to_string(a.batch) + " x " +
            std::to_string(a.steps) + " is too large to address");
  if (a.batch > 0 && a.steps > 0) require(a.x, "args->x");
  if (ci.states < 2 && (a.c0 || a.c_n))
    invalid(std::string(a.c0 ? "args->c0" : "args->c_n") + ": expected NULL (cell '" +
            ci.name + "' has one state), got a pointer");
  auto check_dropout = [&](const void* p, int32_t groups, const char* name) {
    if (groups != 0 && groups != 1 && groups != ci.gates)
      invalid(std::string("args->") + name + "_groups: expected 0, 1 or " +
              std::to_string(ci.gates) + ", got " + std::to_string(groups));
    if (groups == 0 && p)
      invalid(std::string("args->") + name + ": expected NULL when " + name +
              "_groups is 0, got a pointer");
    if (groups > 0 && a.batch > 0) require(p, (std::string("args->") + name).c_str());
  };
  check_dropout(a.input_dropout, a.input_dropout_groups, "input_dropout");
  check_dropout(a.recurrent_dropout, a.recurrent_dropout_groups, "recurrent_dropout");
}

void check_backward(const fastrnn_kernel& k, const fastrnn_backward_args& a) {
  const fastrnn::RnnSpec& s = k.spec();
  const fastrnn::CellInfo& ci = fastrnn::cell_info(s.cell);
  require(a.d_kernel, "args->d_kernel");
  require(a.d_recurrent_kernel, "args->d_recurrent_kernel");
  if (s.use_bias) require(a.d_bias, "args->d_bias");
  else if (a.d_bias)
    invalid("args->d_bias: expected NULL (the kernel was created with use_bias = 0), got a "
            "pointer");
  if (ci.states < 2 && (a.d_c_n || a.d_c0))
    invalid(std::string(a.d_c_n ? "args->d_c_n" : "args->d_c0") + ": expected NULL (cell '" +
            ci.name + "' has one state), got a pointer");
}

}  // namespace

extern "C" {

int32_t fastrnn_c_api_version(void) noexcept { return FASTRNN_C_API_VERSION; }

const char* fastrnn_version(void) noexcept { return FASTRNN_VERSION_STRING; }

const char* fastrnn_last_error(void) noexcept { return g_message; }

void fastrnn_options_init(fastrnn_options* o) noexcept {
  if (!o) return;
  const fastrnn::RnnOptions d{};
  o->activation = fastrnn::activation_name(d.activation);
  o->recurrent_activation = fastrnn::activation_name(d.recurrent_activation);
  o->use_bias = d.use_bias;
  o->reset_after = d.reset_after;
  o->go_backwards = d.go_backwards;
  o->zero_output_for_mask = d.zero_output_for_mask;
}

int fastrnn_kernel_create(const char* cell, int64_t input_dim, int64_t units,
                          const fastrnn_options* options, int32_t dtype,
                          fastrnn_kernel** out) noexcept {
  if (out) *out = nullptr;
  return guarded("fastrnn_kernel_create", [&] {
    require(out, "out");
    require(cell, "cell");
    fastrnn::Cell c;
    if (!fastrnn::cell_from_name(cell, &c))
      invalid("cell: expected one of " + quoted_names(cell_name, fastrnn::kNumCells) +
              ", got '" + cell + "'");
    if (input_dim < 1) invalid("input_dim: expected >= 1, got " + std::to_string(input_dim));
    if (units < 1) invalid("units: expected >= 1, got " + std::to_string(units));
    if (!sizes_fit(0, 0, input_dim, units, fastrnn::cell_info(c).gates))
      invalid("input_dim, units: " + std::to_string(input_dim) + " x " + std::to_string(units) +
              " is too large to address");
    fastrnn::RnnOptions o;
    if (options) {
      o.activation = parse_activation(options->activation, o.activation, "activation");
      o.recurrent_activation = parse_activation(options->recurrent_activation,
                                                o.recurrent_activation, "recurrent_activation");
      o.use_bias = options->use_bias != 0;
      o.reset_after = options->reset_after != 0;
      o.go_backwards = options->go_backwards != 0;
      o.zero_output_for_mask = options->zero_output_for_mask != 0;
    }
    auto k = std::make_unique<fastrnn_kernel>();
    k->dtype = dtype;
    if (dtype == FASTRNN_FLOAT32)
      k->f32 = std::make_unique<fastrnn::RnnKernel<float>>(c, input_dim, units, o);
    else if (dtype == FASTRNN_FLOAT64)
      k->f64 = std::make_unique<fastrnn::RnnKernel<double>>(c, input_dim, units, o);
    else
      invalid("dtype: expected FASTRNN_FLOAT32 (1) or FASTRNN_FLOAT64 (2), got " +
              std::to_string(dtype));
    *out = k.release();
  });
}

void fastrnn_kernel_destroy(fastrnn_kernel* kernel) noexcept { delete kernel; }

int fastrnn_kernel_describe(const fastrnn_kernel* kernel, fastrnn_kernel_info* info) noexcept {
  return guarded("fastrnn_kernel_describe", [&] {
    require(kernel, "kernel");
    require(info, "info");
    const fastrnn::RnnSpec& s = kernel->spec();
    const fastrnn::CellInfo& ci = fastrnn::cell_info(s.cell);
    const index_t gh = ci.gates * s.hidden;
    info->dtype = kernel->dtype;
    info->gates = ci.gates;
    info->states = ci.states;
    info->bias_rows = s.use_bias ? static_cast<int32_t>(fastrnn::bias_rows(s)) : 0;
    info->input_dim = s.input;
    info->units = s.hidden;
    info->kernel_size = s.input * gh;
    info->recurrent_kernel_size = s.hidden * gh;
    info->bias_size = static_cast<int64_t>(fastrnn::bias_size(s));
  });
}

int fastrnn_kernel_bind_weights(fastrnn_kernel* kernel, const void* kernel_weights,
                                const void* recurrent_kernel, const void* bias) noexcept {
  return guarded("fastrnn_kernel_bind_weights", [&] {
    fastrnn_kernel& k = handle(kernel);
    require(kernel_weights, "kernel_weights");
    require(recurrent_kernel, "recurrent_kernel");
    if (k.spec().use_bias) require(bias, "bias");
    else if (bias)
      invalid("bias: expected NULL (the kernel was created with use_bias = 0), got a pointer");
    k.visit([&](auto& kern, auto zero) {
      using T = decltype(zero);
      kern.bind_weights({static_cast<const T*>(kernel_weights),
                         static_cast<const T*>(recurrent_kernel), static_cast<const T*>(bias)});
    });
  });
}

int fastrnn_kernel_forward(fastrnn_kernel* kernel, const fastrnn_forward_args* args) noexcept {
  return guarded("fastrnn_kernel_forward", [&] {
    fastrnn_kernel& k = handle(kernel);
    require(args, "args");
    const fastrnn_forward_args& a = *args;
    check_forward(k, a);
    k.visit([&](auto& kern, auto zero) {
      using T = decltype(zero);
      fastrnn::KernelForward<T> c;
      c.batch = a.batch;
      c.steps = a.steps;
      c.x = static_cast<const T*>(a.x);
      c.h0 = static_cast<const T*>(a.h0);
      c.c0 = static_cast<const T*>(a.c0);
      c.mask = a.mask;
      c.input_dropout = static_cast<const T*>(a.input_dropout);
      c.input_dropout_groups = a.input_dropout_groups;
      c.recurrent_dropout = static_cast<const T*>(a.recurrent_dropout);
      c.recurrent_dropout_groups = a.recurrent_dropout_groups;
      c.outputs = static_cast<T*>(a.outputs);
      c.last_output = static_cast<T*>(a.last_output);
      c.h_n = static_cast<T*>(a.h_n);
      c.c_n = static_cast<T*>(a.c_n);
      c.training = a.training != 0;
      kern.forward(c);
    });
  });
}

int fastrnn_kernel_backward(fastrnn_kernel* kernel, const fastrnn_backward_args* args) noexcept {
  return guarded("fastrnn_kernel_backward", [&] {
    fastrnn_kernel& k = handle(kernel);
    require(args, "args");
    const fastrnn_backward_args& a = *args;
    check_backward(k, a);
    k.visit([&](auto& kern, auto zero) {
      using T = decltype(zero);
      fastrnn::KernelBackward<T> c;
      c.d_outputs = static_cast<const T*>(a.d_outputs);
      c.d_last = static_cast<const T*>(a.d_last);
      c.d_h_n = static_cast<const T*>(a.d_h_n);
      c.d_c_n = static_cast<const T*>(a.d_c_n);
      c.d_x = static_cast<T*>(a.d_x);
      c.d_kernel = static_cast<T*>(a.d_kernel);
      c.d_recurrent_kernel = static_cast<T*>(a.d_recurrent_kernel);
      c.d_bias = static_cast<T*>(a.d_bias);
      c.d_h0 = static_cast<T*>(a.d_h0);
      c.d_c0 = static_cast<T*>(a.d_c0);
      kern.backward(c);
    });
  });
}

int fastrnn_set_num_threads(int32_t n) noexcept {
  return guarded("fastrnn_set_num_threads", [&] {
    if (n < 1) invalid("n: expected >= 1, got " + std::to_string(n));
    fastrnn::set_num_threads(n);
  });
}

int32_t fastrnn_get_num_threads(void) noexcept { return fastrnn::get_num_threads(); }

}  // extern "C"
