"""An ONNX Runtime session dressed as the part of a Transformers model that the tasks call.

`Task.batched_logits` needs only `model.eval()`, `model.device` and `model(**batch).logits`. Giving an
ONNX export exactly that lets every task's tokenisation, length-sorted batching and post-processing
(labels and probabilities, BIO repair and character offsets) serve ONNX exports unchanged, so an ONNX
prediction can differ from a PyTorch one only by the network's arithmetic, never by glue code.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch


class OnnxModel:
    device = torch.device("cpu")

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        # ORT_ENABLE_ALL fuses LayerNorm/GELU/attention patterns at load time; the file stays portable.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def eval(self) -> "OnnxModel":
        return self  # inference only: nothing to switch

    def __call__(self, **batch) -> SimpleNamespace:
        feeds = {name: np.ascontiguousarray(batch[name].cpu().numpy(), dtype=np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feeds)
        return SimpleNamespace(logits=torch.from_numpy(logits))
