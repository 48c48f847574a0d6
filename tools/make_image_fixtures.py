"""Golden data for kgraph.preprocessing.image from tf-keras's image preprocessing.

Run in a virtualenv with tensorflow-cpu 2.21, tf-keras 2.21, scipy and Pillow:
    python tools/make_image_fixtures.py
Writes tests/fixtures/preprocessing_image.npz and tests/fixtures/preprocessing_image.png:
- affine resampling of one image by `apply_affine_transform(..., order=0)` (Keras 2.0.5
  resamples with order 0) for several rotation/shift/shear/zoom/fill-mode sets;
- the feature-wise mean and std `ImageDataGenerator.fit` computes (tf-keras changed ZCA's
  formula and epsilons since 2.0.5, so the tests check those by 2.0.5's formulas);
- a small PNG and what `load_img` + `img_to_array` read from it, resized and not.
tf-keras takes the shear in degrees; the sets record it in radians (2.0.5's unit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tf_keras.preprocessing import image

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

# theta (deg), tx, ty, shear (rad), zx, zy, fill_mode, cval
SETS = [
    (30.0, 0.0, 0.0, 0.0, 1.0, 1.0, "nearest", 0.0),
    (0.0, 1.7, -2.2, 0.0, 1.0, 1.0, "constant", 0.5),
    (0.0, 0.0, 0.0, 0.3, 1.0, 1.0, "reflect", 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.8, 1.3, "wrap", 0.0),
    (-45.0, 1.0, 2.0, -0.2, 1.2, 0.9, "nearest", 0.0),
]


def main() -> None:
    rng = np.random.default_rng(3)
    out = {}
    x = rng.random((7, 9, 3)).astype("float32")
    out["x"] = x
    out["sets"] = np.array([s[:6] for s in SETS], dtype="float64")
    for i, (theta, tx, ty, shear, zx, zy, mode, cval) in enumerate(SETS):
        out[f"affine{i}"] = image.apply_affine_transform(
            x, theta=theta, tx=tx, ty=ty, shear=np.rad2deg(shear), zx=zx, zy=zy, row_axis=0,
            col_axis=1, channel_axis=2, fill_mode=mode, cval=cval, order=0,
        )
    data = rng.random((10, 6, 5, 3)).astype("float32")
    gen = image.ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(data)
    out["fit_data"] = data
    out["fit_mean"], out["fit_std"] = gen.mean, gen.std
    pixels = (rng.random((5, 7, 3)) * 255).astype("uint8")
    Image.fromarray(pixels, "RGB").save(OUT / "preprocessing_image.png")
    path = str(OUT / "preprocessing_image.png")
    out["png_full"] = image.img_to_array(image.load_img(path))
    out["png_resized"] = image.img_to_array(image.load_img(path, target_size=(4, 9)))
    out["png_gray"] = image.img_to_array(image.load_img(path, color_mode="grayscale"))
    np.savez(OUT / "preprocessing_image.npz", **out)


if __name__ == "__main__":
    main()
