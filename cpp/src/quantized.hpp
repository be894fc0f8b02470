// Reduced-precision inference (RnnKernel::set_precision): the recurrent and input products
// with weights stored in bfloat16 or int8, accumulated in float32 / int32, then dequantised;
// the cell's element-wise step stays float32 (quantized_loop.hpp reuses the cells' fused
// blocks).
//
// bfloat16: weights and activations (x_t rows, h_{t-1} rows) rounded to bfloat16 (round to
// nearest even), products summed in float32: AVX512_BF16 dpbf16 (two products per lane per
// instruction) where the CPU has it, else a portable loop on the same packed words.
//
// int8 (as PyTorch's quantize_dynamic for LSTM/GRU): weights quantised once, symmetric per
// output column: s_w[c] = max_k |W[k,c]| / 127, q_w = rint(W / s_w) (computed as
// W * (127 / max)); activations quantised dynamically, symmetric per row (one scale per x_t row
// and per h_{t-1} row, every step): s_a = max |a| / 127, q_a = rint(a * (127 / max)) in
// [-127, 127]. Products in int32: AVX512_VNNI dpbusd takes unsigned x signed bytes, so
// activations are stored as q_a + 128 and 128 * sum_k q_w[k,c] is subtracted per column
// after the sum; the portable loop does the same integer arithmetic (identical results).
// Then y = float(acc) * s_w[c] * s_a.
//
// Products: AMX tiles (TDPBF16PS / TDPBUSD: 16 rows x 16 columns per instruction; 32 rows
// share each weight tile loaded when there are more than 16) for tiles of 4 or more rows where
// the CPU and the OS allow AMX, else AVX-512 (BF16 / VNNI) register
// tiles, else portable loops. int8 results are the same integers on every path; bfloat16 sums
// run in float32 in an order that differs between paths, so bfloat16 results may differ in the
// last bits with the batch size and thread count (which decide the rows of each tile).
//
// Layout: the H units are cut into blocks of QW = 16 (one 512-bit register of floats); a
// matrix [K, G*H] becomes, per unit block u, Kp rows of G*16 32-bit words, each word holding
// 2 bfloat16 (rows 2k, 2k+1) or 4 int8 (rows 4k..4k+3) of one column (zero past K and H);
// Kp = Kg (the words K needs) rounded up to 16, an AMX tile's depth. Row g*16 + l of a
// block's Kp x (G*16) words is AMX's B layout for gate g. Activation rows are Kp words (zero
// past Kg) plus a float scale per row (int8); a tile may read up to kTileRowsMax rows from its
// first (the buffers have that many rows more).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fastrnn/kernel.hpp"

namespace fastrnn {
namespace detail {
namespace quant {

constexpr int QW = 16;

inline int per_word(Precision p) { return p == Precision::Int8 ? 4 : 2; }
inline index_t words(Precision p, index_t K) { return (K + per_word(p) - 1) / per_word(p); }
inline index_t padded_words(Precision p, index_t K) { return (words(p, K) + 15) / 16 * 16; }
constexpr int kTileRowsMax = 32;   // rows a product tile may read from its first (AMX: 2x16)

// One packed [K, G*H] matrix (see the top of this file).
struct Matrix {
  Precision precision = Precision::Float32;
  index_t K = 0, Kg = 0, Kp = 0, H = 0, nub = 0;
  int G = 0;
  std::vector<std::uint32_t> data;   // [nub][Kp][G][QW]
  std::vector<float> scale;          // int8: [nub][G][QW] s_w
  std::vector<std::int32_t> corr;    // int8: [nub][G][QW] 128 * sum_k q_w

  void pack(Precision p, const float* M, index_t K, index_t H, int G);
  const std::uint32_t* block(index_t u) const { return data.data() + u * Kp * G * QW; }
};

// A layer's weights in reduced precision: U [H, G*H] and W [D, G*H].
struct Weights {
  Matrix U, W;
};

// Rows of activations: row r of x (ld ldx, K values) into ldo words at out + r * ldo (zero
// past the K values), and (int8) its scale into scales[r].
void quantize_rows(Precision p, const float* x, index_t ldx, index_t rows, index_t K,
                   std::uint32_t* out, index_t ldo, float* scales);

// The largest row count of one AVX-512 register tile for G gates.
constexpr int max_rows(int G) { return G >= 4 ? 6 : 8; }
// The rows a loop should hand product_tile at once: 32 with AMX, else max_rows(G).
int tile_rows(Precision p, int G);

// The AMX tile configuration of the calling thread, for its product_tile calls in this
// scope (where AMX is used; a thread's configuration is its own).
class TileScope {
 public:
  explicit TileScope(Precision p);
  ~TileScope();
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;

 private:
  bool on_;
};

// Whether the loop computes x W for all steps before it (batches too small for a tile of
// rows: tiles over time steps instead), or in each step.
inline bool precompute_input(index_t batch) { return batch < 4; }

// out[r][g][l] (r < mr, g < G, l < QW) = row r of A (Kp words, ld lda; int8 scale
// ascale[r * lds]) times unit block u of M, dequantised: one tile. out holds
// kTileRowsMax * G * QW floats.
void product_tile(const Matrix& M, const std::uint32_t* A, index_t lda, const float* ascale,
                  index_t lds, int mr, index_t u, float* out);

// Bytes of workspace of quantized_forward_pass (quantized_loop.hpp) for G = gates.
std::size_t workspace_bytes(const RnnSpec& s, Precision p, int gates);

}  // namespace quant
}  // namespace detail
}  // namespace fastrnn
