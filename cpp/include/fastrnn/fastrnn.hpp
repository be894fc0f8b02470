// fastrnn's C++ API in one include: link the CMake target fastrnn::fastrnn
// (find_package(fastrnn CONFIG REQUIRED)). Read common.hpp first (shapes, layouts, ownership);
// the C ABI for other languages is fastrnn_c.h.
#pragma once

#include "fastrnn/common.hpp"
#include "fastrnn/dense.hpp"
#include "fastrnn/embedding.hpp"
#include "fastrnn/kernel.hpp"
#include "fastrnn/losses.hpp"
#include "fastrnn/optimizer.hpp"
#include "fastrnn/rnn.hpp"
