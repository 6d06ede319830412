#!/usr/bin/python3
# Rebuilds the seed corpora under tests/fuzz/corpus/ from real files:
#   idx/   the first 10 MNIST training labels and first 2 images (raw and gzip), one small file of
#          every other IDX element type;
#   png/, jpeg/  grace_hopper.jpg (python-matplotlib-data) scaled to 24x18, in the PNG colour types
#          and JPEG variants kiln reads (and a CMYK JPEG, which it rejects);
#   h5_model/, model_config/  kiln-written model and weights files and their model_config JSON
#          (fuzz_make_seeds, built with KILN_FUZZ=ON), plus h5py rewrites of them: a functional
#          model file with contiguous datasets and a weights file in Keras 3's style (variable-
#          length strings, layer_names split into layer_names0/1, a float64 bias).
# Usage: tests/fuzz/make_seeds.py [build-fuzz/tests/fuzz/fuzz_make_seeds]
# Needs /usr/bin/python3 with python3-pil, python3-h5py and python3-numpy, and MNIST in
# ~/.kiln/datasets/mnist (scripts/fetch-data.sh). The hand-written model_config JSON texts are
# not made here.
import gzip
import os
import struct
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MNIST = os.path.expanduser(os.environ.get("KILN_DATA", "~/.kiln/datasets")) + "/mnist/"
GRACE_HOPPER = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"


def write(folder, name, data):
    os.makedirs(os.path.join(CORPUS, folder), exist_ok=True)
    with open(os.path.join(CORPUS, folder, name), "wb") as out:
        out.write(data)


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(">%dI" % len(dims), *dims) + payload


def make_idx():
    labels = open(MNIST + "train-labels-idx1-ubyte", "rb").read()[8:18]
    images = open(MNIST + "train-images-idx3-ubyte", "rb").read()[16:16 + 2 * 784]
    write("idx", "mnist-labels-10.idx1", idx(0x08, [10], labels))
    write("idx", "mnist-images-2.idx3", idx(0x08, [2, 28, 28], images))
    write("idx", "mnist-labels-10.idx1.gz", gzip.compress(idx(0x08, [10], labels), mtime=0))
    write("idx", "mnist-images-2.idx3.gz", gzip.compress(idx(0x08, [2, 28, 28], images), mtime=0))
    floats = struct.pack(">6f", 0.5, -1.25, 3e10, -0.0, 1e-30, 7)
    write("idx", "f32-3x2.idx", idx(0x0D, [3, 2], floats))
    write("idx", "f64-2x1x2.idx", idx(0x0E, [2, 1, 2], struct.pack(">4d", 1.5, -2, 1e300, -1e-300)))
    write("idx", "i16-4.idx", idx(0x0B, [4], struct.pack(">4h", -32768, -1, 0, 32767)))
    write("idx", "i32-3.idx", idx(0x0C, [3], struct.pack(">3i", -2**31, 0, 2**31 - 1)))
    write("idx", "i8-2x2.idx", idx(0x09, [2, 2], bytes([0x80, 0xFF, 0, 0x7F])))
    write("idx", "u8-rank4.idx", idx(0x08, [1, 2, 2, 3], bytes(range(12))))


def save(image, folder, name, **options):
    os.makedirs(os.path.join(CORPUS, folder), exist_ok=True)
    image.save(os.path.join(CORPUS, folder, name), **options)


def make_images():
    rgb = Image.open(GRACE_HOPPER).convert("RGB").resize((24, 18))
    grey = rgb.convert("L")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((24, 18)))
    save(grey, "png", "gray-24x18.png")
    save(rgb, "png", "rgb-24x18.png")
    save(rgba, "png", "rgba-24x18.png")
    save(rgba.convert("LA"), "png", "gray-alpha-24x18.png")
    save(rgb.quantize(16), "png", "palette-16-colours.png")
    save(rgb.quantize(8), "png", "palette-trns.png", transparency=0)
    save(rgb.convert("1"), "png", "bilevel.png")
    save(grey.convert("I").point(lambda v: v * 257), "png", "gray16.png")
    save(grey, "jpeg", "gray-24x18.jpg", quality=85)
    save(rgb, "jpeg", "rgb-420.jpg", quality=80)
    save(rgb, "jpeg", "rgb-444.jpg", quality=90, subsampling=0)
    save(rgb, "jpeg", "rgb-progressive.jpg", quality=75, progressive=True)
    save(rgb.convert("CMYK"), "jpeg", "cmyk.jpg", quality=75)
    save(rgb.resize((17, 9)), "jpeg", "rgb-odd-size.jpg", quality=60, optimize=True)


def strings(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def make_h5_variants():
    folder = os.path.join(CORPUS, "h5_model")
    functional = os.path.join(folder, "model-functional.h5")
    # Contiguous datasets (h5py's default) instead of kiln's checksummed chunks: a smaller file.
    with h5py.File(functional, "r") as src, \
            h5py.File(os.path.join(folder, "model-functional-contiguous.h5"), "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        src.visititems(lambda name, obj: copy_object(name, obj, dst))
    os.remove(functional)
    with h5py.File(os.path.join(folder, "weights.h5"), "r") as src, \
            h5py.File(os.path.join(folder, "weights-split-vlen.h5"), "w", libver="latest") as dst:
        names = strings(src.attrs["layer_names"])
        dst.attrs["layer_names0"] = names[:2]
        dst.attrs["layer_names1"] = names[2:]
        dst.attrs["backend"] = "tensorflow"
        dst.attrs["keras_version"] = "3.3.3"
        for name in names:
            group = dst.create_group(name)
            weights = strings(src[name].attrs["weight_names"])
            group.attrs["weight_names"] = weights if weights else np.zeros((0,), dtype="float64")
            for weight in weights:
                data = src[name][weight][()]
                if "bias" in weight:
                    data = data.astype("float64")
                group.create_dataset(weight, data=data)


def copy_object(name, obj, dst):
    if isinstance(obj, h5py.Group):
        group = dst.require_group(name)
    else:
        group = dst.create_dataset(name, data=obj[()])
    for key, value in obj.attrs.items():
        group.attrs[key] = value


def main():
    make_idx()
    make_images()
    if len(sys.argv) > 1:
        subprocess.run([sys.argv[1], CORPUS], check=True)
        make_h5_variants()


if __name__ == "__main__":
    main()
