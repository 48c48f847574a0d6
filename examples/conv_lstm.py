"""Next-frame prediction with ConvLSTM2D over movies of any length.

Keras 2's `conv_lstm` example (without its BatchNormalization layers, whose moving
statistics need far more steps than this run takes), at a size that trains in under a
minute on a laptop CPU:
movies of squares drifting across a 20x20 frame, a stack of ConvLSTM2D layers declared with
`input_shape=(None, rows, cols, 1)` (any number of frames) and a Conv3D that predicts each
next frame. After training, the model watches the first frames of a new movie and then
continues it on its own, one frame at a time: every call sees a longer movie.

    python examples/conv_lstm.py [--movies 400] [--epochs 8]
"""

from __future__ import annotations

import argparse

import numpy as np

from kgraph.layers import Conv3D, ConvLSTM2D
from kgraph.models import Sequential

SIZE, FRAMES = 20, 12


def movies(n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, next frames): n movies of FRAMES + 1 frames, 2-4 squares of side 3-5, each moving in a
    straight line one cell per frame, bouncing off the borders."""
    frames = np.zeros((n, FRAMES + 1, SIZE, SIZE, 1), np.float32)
    for movie in frames:
        for _ in range(rng.randint(2, 5)):
            side = rng.randint(3, 6)
            pos = rng.randint(0, SIZE - side, size=2).astype(float)
            vel = rng.choice([-1, 1], size=2).astype(float)
            for t in range(FRAMES + 1):
                r, c = int(pos[0]), int(pos[1])
                movie[t, r : r + side, c : c + side, 0] = 1.0
                pos += vel
                for axis in (0, 1):  # bounce
                    if not 0 <= pos[axis] <= SIZE - side:
                        vel[axis] = -vel[axis]
                        pos[axis] = np.clip(pos[axis], 0, SIZE - side)
    return frames[:, :-1], frames[:, 1:]


def build() -> Sequential:
    model = Sequential()
    model.add(
        ConvLSTM2D(
            12, (3, 3), padding="same", return_sequences=True, input_shape=(None, SIZE, SIZE, 1)
        )
    )
    model.add(ConvLSTM2D(12, (3, 3), padding="same", return_sequences=True))
    model.add(Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same"))
    model.compile(loss="binary_crossentropy", optimizer="adam")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()

    rng = np.random.RandomState(0)
    x, y = movies(args.movies, rng)
    model = build()
    model.summary()
    history = model.fit(x, y, batch_size=16, epochs=args.epochs, validation_split=0.1, verbose=2)
    losses = history.history["loss"]
    print(f"training loss {losses[0]:.4f} -> {losses[-1]:.4f}")

    # Watch 6 frames of new movies, then continue them alone: each call is one frame longer.
    test_x, test_y = movies(20, rng)
    one_step = model.predict(test_x) > 0.5
    print(
        f"next frame given the true past: {_iou(one_step[:, 6:], test_y[:, 6:] > 0.5):.2f} "
        "intersection over union of the lit cells"
    )
    seen = test_x[:, :6]
    for _ in range(FRAMES - 6):
        nxt = model.predict(seen)[:, -1:]
        seen = np.concatenate([seen, (nxt > 0.5).astype(np.float32)], axis=1)
    print(
        f"{FRAMES - 6} frames continued alone: {_iou(seen[:, 6:] > 0.5, test_x[:, 6:] > 0.5):.2f} "
        "(a copy of the last seen frame scores "
        f"{_iou(np.repeat(test_x[:, 5:6], FRAMES - 6, axis=1) > 0.5, test_x[:, 6:] > 0.5):.2f})"
    )


def _iou(guess: np.ndarray, truth: np.ndarray) -> float:
    return float((guess & truth).sum() / max((guess | truth).sum(), 1))


if __name__ == "__main__":
    main()
