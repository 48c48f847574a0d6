"""Data preprocessing utilities, as `keras.preprocessing` in Keras 2.0.5.

`sequence` pads integer sequences and makes word2vec skip-gram pairs; `text` splits texts
into words, hashes words to indices and turns corpora into index sequences or matrices
(`Tokenizer`); `image` holds the image augmentation utilities. Submodules load on first
use, so importing one does not pull in the others' dependencies.

```python
from kgraph.preprocessing import sequence
from kgraph.preprocessing.text import Tokenizer
```
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("image", "sequence", "text")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
