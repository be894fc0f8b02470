// An LSTM or GRU forward and backward through fastrnn's C++ API (fastrnn::RnnKernel), checked
// against fastrnn's Python results for the same inputs (make_data.py).
//
//   rnn_check CASE_DIR            exit 0 when every output and gradient matches
//   rnn_check CASE_DIR --perturb  the same with one expected value moved: exit 0 when the
//                                 check reports exactly that one mismatch
#include <fastrnn/fastrnn.hpp>
#include <fastrnn/fastrnn_c.h>  // the C header compiles as C++ too

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "case_data.h"

namespace {

template <typename T>
std::vector<T> load(const char* dir, const char* name, std::size_t count) {
  std::unique_ptr<void, decltype(&std::free)> data(read_array(dir, name, count, sizeof(T)),
                                                   &std::free);
  if (!data) throw std::runtime_error(std::string("cannot read ") + name);
  const T* p = static_cast<const T*>(data.get());
  return std::vector<T>(p, p + count);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--perturb") != 0)) {
    std::fprintf(stderr, "usage: rnn_check CASE_DIR [--perturb]\n");
    return 2;
  }
  const char* dir = argv[1];
  const bool perturb = argc == 3;
  if (std::strcmp(fastrnn_version(), FASTRNN_EXPECTED_VERSION) != 0) {
    std::fprintf(stderr, "libfastrnn_c is version %s, the CMake package says %s\n",
                 fastrnn_version(), FASTRNN_EXPECTED_VERSION);
    return 1;
  }
  try {
    case_meta m;
    if (read_meta(dir, &m) != 0) return 1;
    fastrnn::Cell cell;
    if (!fastrnn::cell_from_name(m.cell, &cell)) throw std::runtime_error("unknown cell");
    fastrnn::RnnOptions options;
    options.reset_after = m.reset_after != 0;
    options.go_backwards = m.go_backwards != 0;
    fastrnn::RnnKernel<float> kernel(cell, m.input_dim, m.units, options);

    const std::size_t B = m.batch, T = m.steps, D = m.input_dim, H = m.units;
    const std::size_t GH = kernel.cell().gates * H, BH = B * H;
    const bool lstm = kernel.cell().states == 2;  // a second state, c
    const auto w = load<float>(dir, "kernel", D * GH);
    const auto rw = load<float>(dir, "recurrent_kernel", H * GH);
    const auto b = load<float>(dir, "bias", fastrnn::bias_size(kernel.spec()));
    kernel.bind_weights({w.data(), rw.data(), b.data()});

    const auto x = load<float>(dir, "x", B * T * D);
    const auto h0 = load<float>(dir, "h0", BH);
    const auto c0 = lstm ? load<float>(dir, "c0", BH) : std::vector<float>();
    const auto mask = m.masked ? load<std::uint8_t>(dir, "mask", B * T)
                               : std::vector<std::uint8_t>();
    std::vector<float> y(B * T * H), h_n(BH), c_n(lstm ? BH : 0);
    fastrnn::KernelForward<float> f;
    f.batch = m.batch;
    f.steps = m.steps;
    f.x = x.data();
    f.h0 = h0.data();
    f.c0 = lstm ? c0.data() : nullptr;
    f.mask = m.masked ? mask.data() : nullptr;
    f.outputs = y.data();
    f.h_n = h_n.data();
    f.c_n = lstm ? c_n.data() : nullptr;
    f.training = true;
    kernel.forward(f);

    const auto dy = load<float>(dir, "d_outputs", B * T * H);
    const auto dh_n = load<float>(dir, "d_h_n", BH);
    const auto dc_n = lstm ? load<float>(dir, "d_c_n", BH) : std::vector<float>();
    std::vector<float> dx(B * T * D), dw(D * GH), drw(H * GH), db(b.size()), dh0(BH),
        dc0(lstm ? BH : 0);
    fastrnn::KernelBackward<float> g;
    g.d_outputs = dy.data();
    g.d_h_n = dh_n.data();
    g.d_c_n = lstm ? dc_n.data() : nullptr;
    g.d_x = dx.data();
    g.d_kernel = dw.data();
    g.d_recurrent_kernel = drw.data();
    g.d_bias = db.data();
    g.d_h0 = dh0.data();
    g.d_c0 = lstm ? dc0.data() : nullptr;
    kernel.backward(g);

    // An inference forward gives the same outputs.
    std::vector<float> y_inference(B * T * H);
    f.training = false;
    f.outputs = y_inference.data();
    f.h_n = f.c_n = nullptr;
    kernel.forward(f);

    struct Result { const char* name; const std::vector<float>& got; };
    const Result results[] = {{"outputs", y}, {"outputs", y_inference}, {"h_n", h_n},
                              {"c_n", c_n}, {"d_x", dx}, {"d_kernel", dw},
                              {"d_recurrent_kernel", drw}, {"d_bias", db}, {"d_h0", dh0},
                              {"d_c0", dc0}};
    std::size_t bad = 0;
    for (const Result& r : results) {
      if (r.got.empty()) continue;  // c_n, dc0 of a one-state cell
      auto ref = load<float>(dir, r.name, r.got.size());
      if (perturb && std::strcmp(r.name, "d_kernel") == 0) ref[0] += 1e-3f;
      bad += count_mismatches(r.name, r.got.data(), ref.data(), ref.size());
    }
    std::printf("%s (C++ API): %zu mismatches\n", m.cell, bad);
    return (perturb ? bad == 1 : bad == 0) ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rnn_check: %s\n", e.what());
    return 1;
  }
}
