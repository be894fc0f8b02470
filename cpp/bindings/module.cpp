// pybind11 module fastrnn._core: the tables of cells and activations, the thread count, and
// the bindings of each kernel family (one file each). Arguments are checked by arrays.hpp.
#include <pybind11/pybind11.h>

#include "fastrnn/rnn.hpp"

namespace py = pybind11;

void bind_rnn_kernel(py::module_& m);  // rnn_kernel.cpp
void bind_embedding(py::module_& m);   // embedding.cpp
void bind_optimizer(py::module_& m);   // optimizer.cpp
void bind_dense(py::module_& m);       // dense.cpp

namespace {

// One dict per registered cell (fastrnn/common.hpp): name, gates, states, whether
// recurrent_activation and reset_after apply, and the bias rows (a bias [G*H] when 1, else
// [rows, G*H]) for reset_after False and True.
py::tuple cells() {
  py::list out;
  for (int i = 0; i < fastrnn::kNumCells; ++i) {
    const auto cell = static_cast<fastrnn::Cell>(i);
    const fastrnn::CellInfo& c = fastrnn::cell_info(cell);
    fastrnn::RnnSpec s;
    s.cell = cell;
    s.reset_after = false;
    const auto rows_before = fastrnn::bias_rows(s);
    s.reset_after = true;
    py::dict d;
    d["name"] = c.name;
    d["gates"] = c.gates;
    d["states"] = c.states;
    d["uses_recurrent_activation"] = c.uses_recurrent_activation;
    d["uses_reset_after"] = c.uses_reset_after;
    d["bias_rows"] = py::make_tuple(rows_before, fastrnn::bias_rows(s));
    out.append(d);
  }
  return py::tuple(out);
}

py::tuple activations() {
  py::list out;
  for (int i = 0; i < fastrnn::kNumActivations; ++i)
    out.append(fastrnn::activation_name(static_cast<fastrnn::Activation>(i)));
  return py::tuple(out);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastrnn C++ kernels (see cpp/include/fastrnn/common.hpp for conventions)";
  m.def("cells", &cells,
        "The recurrent cells: a tuple of dicts (name, gates, states, "
        "uses_recurrent_activation, uses_reset_after, bias_rows: (rows when reset_after is "
        "False, rows when True)).");
  m.def("activations", &activations, "Names of the recurrent kernels' activations.");
  bind_rnn_kernel(m);
  bind_embedding(m);
  bind_optimizer(m);
  bind_dense(m);
  m.def("set_num_threads", &fastrnn::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &fastrnn::get_num_threads);
  m.def("openmp_enabled", &fastrnn::openmp_enabled);
  // Chosen now, so that a FASTRNN_ISA the build or the CPU cannot honour fails the import.
  fastrnn::isa();
  m.def("isa", &fastrnn::isa,
        "The code the kernels run: 'native' (FASTRNN_NATIVE=ON), or the variant a portable "
        "build chose: 'avx512', 'avx2' or 'baseline' (the environment variable FASTRNN_ISA may "
        "force a lower one).");
}
