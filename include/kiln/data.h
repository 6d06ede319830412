// Data sets: an IDX reader (the MNIST file format, raw or gzip-compressed), the MNIST and
// Fashion-MNIST loaders (like keras.datasets.*.load_data), one-hot encoding, and the data
// directory.
#pragma once

#include <string>
#include <vector>

#include "kiln/export.h"
#include "kiln/tensor.h"

namespace kiln {

// Reads an IDX file (raw, or gzip-compressed: detected by the magic bytes 1f 8b, not the name).
// The element type follows the IDX type code: 0x08 unsigned byte -> u8; 0x09 signed byte,
// 0x0B short, 0x0C int -> i32; 0x0D float -> f32; 0x0E double -> f64. The shape is the file's
// dimensions. Throws Error naming the file on a missing or unreadable file, a wrong magic number,
// a zero or absurd dimension, a header that claims more data than the file holds, trailing bytes,
// or a corrupt gzip stream.
KILN_API Tensor read_idx(const std::string& path);

// A data set split as Keras returns it: images f32 in [0, 1], NHWC (N, 28, 28, 1); labels i32 (N).
struct KILN_API Dataset {
  Tensor x_train, y_train, x_test, y_test;
  std::vector<std::string> class_names;
};

// `$KILN_DATA` when set and not empty, else `~/.kiln/datasets` (like Keras's ~/.keras/datasets).
KILN_API std::string default_data_dir();

// MNIST from `<data_dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
// Class names "0".."9". scripts/fetch-data.sh puts the files there.
KILN_API Dataset load_mnist(const std::string& data_dir = default_data_dir());
// Fashion-MNIST from `<data_dir>/fashion-mnist/` (same file names). Class names
// T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
KILN_API Dataset load_fashion_mnist(const std::string& data_dir = default_data_dir());
// "mnist" or "fashion_mnist" (also "fashion-mnist"); any other name is an Error listing these.
KILN_API Dataset load_dataset(const std::string& name,
                              const std::string& data_dir = default_data_dir());

// u8 images (N, H, W) or (N, H, W, C) -> f32 NHWC in [0, 1] (value / 255), on the CPU.
KILN_API Tensor images_to_float(const Tensor& images_u8);

// One-hot f32 (labels' shape + (num_classes)) from integer labels (i32 or u8), like
// keras.utils.to_categorical. A label outside [0, num_classes) is an Error naming its index.
KILN_API Tensor to_categorical(const Tensor& labels, int num_classes);

}  // namespace kiln
