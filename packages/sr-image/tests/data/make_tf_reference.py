"""Recorded once with TensorFlow 2.21 (tensorflow-cpu) in a throw-away environment; not run by the tests.

    python make_tf_reference.py HR_CROP.png PATH/TO/EnhanceNet-Code/weights

HR_CROP.png was ``skimage.data.chelsea()[60:220, 120:280]`` (scikit-image 0.26) saved with Pillow.

writes ``tf_reference.npz`` with
- ``bicubic_<case>_in`` / ``bicubic_<case>_out``: ``tf.compat.v1.image.resize_bicubic(align_corners=False,
  half_pixel_centers=False)`` - the TF 0.12 ``resize_images(..., BICUBIC)`` kernel - on small random arrays
  (odd sizes, 2x, 4x, a non-integer ratio, a downsampling), NHWC float32;
- ``enet_lr`` (uint8, PIL-Lanczos 4x downsampling of the HR crop, the authors' input) and ``enet_out`` (uint8):
  the authors' ENet-PAT graph of ``enhancenet.py`` rebuilt op for op in TF 2 with their weights, the output
  clipped and rounded as their ``saveimg`` does.
and ``tf_weights.json``: name -> [shape, sha256 of the float32 bytes] of every variable as TF's own checkpoint
reader returns it; and two small Saver V1 checkpoints of other models for the importer's error tests:
``v1_other_model`` (a "discriminator" scope) and ``v1_wrong_generator`` (two ENet variables of wrong shapes,
the rest missing).
"""

import hashlib
import json
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

MEANS = np.array([0.47614917, 0.45001204, 0.40904046], np.float32)  # enhancenet.py PER_CHANNEL_MEANS


def legacy_bicubic(x, size):
    return tf.compat.v1.image.resize_bicubic(x, size, align_corners=False, half_pixel_centers=False)


def write_v1(path: str, variables: dict[str, np.ndarray]) -> None:
    with tf.Graph().as_default():
        for name, value in variables.items():
            tf.compat.v1.get_variable(name, initializer=value)
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, path, write_meta_graph=False)


def main(hr_path: str, weights: str) -> None:
    f32 = np.float32
    write_v1(
        "v1_other_model",
        {
            "discriminator/Conv/weights": np.arange(120, dtype=f32).reshape(2, 3, 4, 5) / 100,
            "discriminator/Conv/biases": np.array([1.5, -2.0, 3.25, 0, 7], f32),
        },
    )
    write_v1(
        "v1_wrong_generator",
        {"generator/Conv/weights": np.full((3, 3, 3, 8), 0.5, f32), "generator/Conv/biases": np.zeros(8, f32)},
    )

    out = {}
    rng = np.random.default_rng(0)
    cases = {"2x": ((5, 7), (10, 14)), "4x": ((3, 4), (12, 16)), "odd": ((7, 5), (9, 11)), "down": ((9, 11), (4, 5))}
    for name, (src, dst) in cases.items():
        x = rng.uniform(0, 1, (1, *src, 3)).astype(np.float32)
        out[f"bicubic_{name}_in"], out[f"bicubic_{name}_out"] = x, legacy_bicubic(x, dst).numpy()

    reader = tf.compat.v1.train.NewCheckpointReader(weights)
    names = sorted(reader.get_variable_to_shape_map())
    w = {n: reader.get_tensor(n) for n in names}
    digest = {n: [list(a.shape), hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()] for n, a in w.items()}
    with open("tf_weights.json", "w") as f:
        json.dump(digest, f, indent=0, sort_keys=True)

    hr = Image.open(hr_path).convert("RGB")
    lr = hr.resize((hr.width // 4, hr.height // 4), Image.LANCZOS)  # = the authors' Image.ANTIALIAS
    out["enet_lr"] = np.array(lr)
    xs = np.array(lr, np.float32)[None] / 255 - MEANS
    conv_ids = iter([""] + [f"_{i}" for i in range(1, 25)])

    def conv(h):
        i = next(conv_ids)
        k, b = w[f"generator/Conv{i}/weights"], w[f"generator/Conv{i}/biases"]
        return tf.nn.conv2d(h, k, strides=1, padding="SAME") + b

    def up(h):
        size = [2 * h.shape[1], 2 * h.shape[2]]
        return tf.compat.v1.image.resize_nearest_neighbor(h, size, align_corners=False, half_pixel_centers=False)

    h = tf.nn.relu(conv(tf.constant(xs)))
    for _ in range(10):
        h = h + conv(tf.nn.relu(conv(h)))
    h = tf.nn.relu(conv(up(h)))
    h = tf.nn.relu(conv(up(h)))
    h = conv(tf.nn.relu(conv(h)))
    est = h + legacy_bicubic(xs, [4 * xs.shape[1], 4 * xs.shape[2]]) + MEANS
    out["enet_out"] = (np.clip(est.numpy()[0], 0, 1) * 255 + 0.5).astype(np.uint8)  # scipy bytescale
    np.savez_compressed("tf_reference.npz", **out)


if __name__ == "__main__":
    main(*sys.argv[1:])
