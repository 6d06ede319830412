// The seed's last cell in kiln: load a pre-trained detector, run it on a photo, list the boxes.
//
//   detect photo.jpg [centernet|blazeface|model.json]
//
// The model defaults to the packaged CenterNet (COCO's 80 classes; BlazeFace finds faces) that
// scripts/fetch-models.sh puts in $KILN_MODELS, else ~/.kiln/models. `kiln detect` also draws
// the boxes.
#include <kiln/kiln.h>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s photo.jpg [centernet|blazeface|model.json]\n", argv[0]);
    return 2;
  }
  try {
    const kiln::Detector detector = kiln::Detector::load(argc == 3 ? argv[2] : "centernet");
    const kiln::Tensor image = kiln::read_image(argv[1]);
    // The model's defaults: for CenterNet the seed's top 10 boxes scoring at least 0.1.
    for (const kiln::Detection& d : detector.detect(image)) {
      std::printf("%-14s %.2f  [%4.0f, %4.0f, %4.0f, %4.0f]\n", d.label.c_str(), d.score, d.box.x1,
                  d.box.y1, d.box.x2, d.box.y2);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "detect: %s\n", e.what());
    return 1;
  }
  return 0;
}
