// MNIST and Fashion-MNIST loaders, the data directory, u8 -> f32 image conversion and one-hot
// labels. Every check names the file it is about.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/check.h"
#include "kiln/data.h"

namespace kiln {
namespace {

constexpr std::int64_t kImageSide = 28;
constexpr int kNumClasses = 10;

const std::vector<std::string> kDigitNames{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
const std::vector<std::string> kFashionNames{"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                             "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                             "Bag",         "Ankle boot"};

std::string home_dir() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return home;
  const passwd* entry = getpwuid(getuid());
  KILN_CHECK(entry != nullptr && entry->pw_dir != nullptr,
             "cannot find the data directory: KILN_DATA and HOME are unset and user {} has no "
             "home directory",
             getuid());
  return entry->pw_dir;
}

// `<dir>/<name>`, else `<dir>/<name>.gz`; neither is an Error saying how to get the files.
std::string find_data_file(const std::string& dir, const std::string& name,
                           const std::string& dataset) {
  std::filesystem::path raw = std::filesystem::path(dir) / name;
  std::filesystem::path gz = std::filesystem::path(dir) / (name + ".gz");
  std::error_code error;
  if (std::filesystem::exists(raw, error)) return raw.string();
  if (std::filesystem::exists(gz, error)) return gz.string();
  fail(
      "{} data file missing: neither {} nor {} exists (run scripts/fetch-data.sh, or set "
      "KILN_DATA to the directory that holds {}/)",
      dataset, raw.string(), gz.string(), std::filesystem::path(dir).filename().string());
}

Tensor load_images(const std::string& path) {
  Tensor images = read_idx(path);
  KILN_CHECK(images.dtype() == DType::u8 && images.rank() == 3,
             "{}: expected unsigned-byte images of shape (N, 28, 28), found {} data of shape {}",
             path, dtype_name(images.dtype()), shape_str(images.shape()));
  KILN_CHECK(images.dim(1) == kImageSide && images.dim(2) == kImageSide,
             "{}: expected 28x28 images, found {}x{}", path, images.dim(1), images.dim(2));
  return images_to_float(images);
}

Tensor load_labels(const std::string& path) {
  Tensor raw = read_idx(path);
  KILN_CHECK(raw.dtype() == DType::u8 && raw.rank() == 1,
             "{}: expected unsigned-byte labels of shape (N), found {} data of shape {}", path,
             dtype_name(raw.dtype()), shape_str(raw.shape()));
  Tensor labels = Tensor::empty(raw.shape(), DType::i32);
  const std::uint8_t* in = raw.data<std::uint8_t>();
  std::int32_t* out = labels.data<std::int32_t>();
  for (std::int64_t i = 0; i < raw.numel(); ++i) {
    KILN_CHECK(in[i] < kNumClasses, "{}: label {} is {}, expected 0..{}", path, i, int{in[i]},
               kNumClasses - 1);
    out[i] = in[i];
  }
  return labels;
}

void load_split(const std::string& dir, const std::string& prefix, const std::string& dataset,
                Tensor& images, Tensor& labels) {
  std::string images_path = find_data_file(dir, prefix + "-images-idx3-ubyte", dataset);
  std::string labels_path = find_data_file(dir, prefix + "-labels-idx1-ubyte", dataset);
  images = load_images(images_path);
  labels = load_labels(labels_path);
  KILN_CHECK(images.dim(0) == labels.dim(0),
             "{} {} split: image and label counts differ: {} has {} images, {} has {} labels",
             dataset, prefix, images_path, images.dim(0), labels_path, labels.dim(0));
}

Dataset load_idx_dataset(const std::string& dir, const std::string& dataset,
                         const std::vector<std::string>& class_names) {
  Dataset data;
  load_split(dir, "train", dataset, data.x_train, data.y_train);
  load_split(dir, "t10k", dataset, data.x_test, data.y_test);
  data.class_names = class_names;
  return data;
}

// Element `i` of an i32 or u8 host tensor.
std::int64_t label_at(const Tensor& labels, std::int64_t i) {
  if (labels.dtype() == DType::u8) return labels.data<std::uint8_t>()[i];
  return labels.data<std::int32_t>()[i];
}

}  // namespace

std::string default_data_dir() {
  const char* configured = std::getenv("KILN_DATA");
  if (configured != nullptr && *configured != '\0') return configured;
  return (std::filesystem::path(home_dir()) / ".kiln" / "datasets").string();
}

Dataset load_mnist(const std::string& data_dir) {
  return load_idx_dataset((std::filesystem::path(data_dir) / "mnist").string(), "MNIST",
                          kDigitNames);
}

Dataset load_fashion_mnist(const std::string& data_dir) {
  return load_idx_dataset((std::filesystem::path(data_dir) / "fashion-mnist").string(),
                          "Fashion-MNIST", kFashionNames);
}

Dataset load_dataset(const std::string& name, const std::string& data_dir) {
  if (name == "mnist") return load_mnist(data_dir);
  if (name == "fashion_mnist" || name == "fashion-mnist") return load_fashion_mnist(data_dir);
  fail("unknown dataset '{}': expected mnist or fashion_mnist", name);
}

Tensor images_to_float(const Tensor& images_u8) {
  KILN_CHECK(images_u8.dtype() == DType::u8 && (images_u8.rank() == 3 || images_u8.rank() == 4),
             "images_to_float: expected u8 images (N, H, W) or (N, H, W, C), found {}",
             images_u8.str());
  Tensor host = images_u8.to(Device::cpu());
  Shape shape = host.shape();
  if (shape.size() == 3) shape.push_back(1);
  Tensor out = Tensor::empty(shape, DType::f32);
  const std::uint8_t* in = host.data<std::uint8_t>();
  float* values = out.data<float>();
  for (std::int64_t i = 0; i < host.numel(); ++i) values[i] = static_cast<float>(in[i]) / 255.0f;
  return out;
}

Tensor to_categorical(const Tensor& labels, int num_classes) {
  KILN_CHECK(labels.defined(), "to_categorical: labels tensor is undefined");
  KILN_CHECK(labels.dtype() == DType::i32 || labels.dtype() == DType::u8,
             "to_categorical: expected i32 or u8 labels, found {}", labels.str());
  KILN_CHECK(num_classes > 0, "to_categorical: num_classes must be positive, found {}",
             num_classes);
  Tensor host = labels.to(Device::cpu());
  Shape shape = host.shape();
  shape.push_back(num_classes);
  Tensor out = Tensor::empty(shape, DType::f32);
  float* values = out.data<float>();
  std::fill(values, values + out.numel(), 0.0f);
  for (std::int64_t i = 0; i < host.numel(); ++i) {
    std::int64_t label = label_at(host, i);
    KILN_CHECK(label >= 0 && label < num_classes,
               "to_categorical: label at index {} is {}, expected 0..{} (num_classes {})", i, label,
               num_classes - 1, num_classes);
    values[i * num_classes + label] = 1.0f;
  }
  return out;
}

}  // namespace kiln
