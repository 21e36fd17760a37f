"""The export formats as registered specs: how each is written from the fp32 model, which files hold its
weights, and how it is loaded back.

Writing and loading sit side by side so the export that `tuneforge export` evaluates is loaded by the
very code `load_predictor` uses later. A new format is one `register_format(ExportFormat(...))` here; the
exporter, the loader, the CLI's help and the card ask the registry instead of testing the format's name.

- onnx        torch.onnx's dynamo exporter (torch.export + onnxscript), dynamic batch and sequence axes.
              The older TorchScript exporter (`dynamo=False`) traces Transformers 5's attention-mask code
              with shapes baked in and gave logits off by 6e-3 on a batch padded differently from the
              example; the dynamo export matched to 1e-8.
- onnx-int8   ONNX Runtime dynamic quantization of that graph: int8 weights, activations quantized per
              batch at run time (no calibration data needed).
- torch-int8  torch.ao dynamic quantization of every nn.Linear, one scale per tensor (embeddings stay
              fp32). On the full minilm polarity run it lost 1.3 points of macro F1, so the 1-point guard
              refuses it there; per-channel scales lost 3 points, and leaving the head in fp32 changed
              nothing (the loss is in the encoder). ONNX int8 lost 0.5 on the same run.
- bf16        every weight cast to bfloat16: half the size; fast only where the CPU has native bf16.
- gguf, gguf-q8_0   a text-generation run (Llama-family decoder) as one GGUF file for llama.cpp, fp16 or 8-bit
              matrices (export/gguf_model.py).

Both int8 formats quantize activations with one scale per input tensor, computed at run time: in a batch, the
scale comes from all of its texts, so one text's answer depended on its companions (a polarity run: 4 of 200 test
labels flipped between one-at-a-time and batches of 64, probabilities moved by up to 0.58). In a micro-batching
server that makes one caller's answer depend on another caller's text. Their loaders therefore run each text
alone (`OneTextAtATime`, unpadded); benchmarks/export_speed.py measures what that costs against the same int8
network batched (BENCHMARKS.md, the export table).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import torch

from .gguf_model import GGUF_FILE, load_gguf, write_gguf

ONNX_FILE = "model.onnx"
INT8_STATE = "model.int8.pt"


class _LogitsOnly(torch.nn.Module):
    """The exported graph's signature: (input_ids, attention_mask) -> logits, nothing else."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


@contextlib.contextmanager
def _quiet():
    """The exporters narrate every phase on stdout and warn about optional packages (torchvision);
    `tuneforge export` reports its own result instead."""
    # "root": the quantizer's advice to run ORT's pre-processing (shape inference and graph fusions,
    # which an ORT_ENABLE_ALL session does anyway when it loads the model) goes to the root logger.
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript", "")]
    levels = [l.level for l in loggers]
    try:
        for l in loggers:
            l.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for l, lv in zip(loggers, levels):
            l.setLevel(lv)


def write_onnx(model, tokenizer, path: Path) -> None:
    # Example of batch 2 x 8 tokens with one padded row: torch.export specialises any dimension of
    # size 1, and the padding keeps the attention-mask path in the graph.
    enc = tokenizer(["a b c d e f g h", "a b"], padding="max_length", max_length=8, truncation=True,
                    return_tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"])
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    with _quiet(), torch.no_grad():
        torch.onnx.export(_LogitsOnly(model.eval()), args, str(path), dynamo=True, external_data=False,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
                          verbose=False)


def write_onnx_int8(model, tokenizer, path: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    fp32 = path.with_name("model.fp32.onnx")
    write_onnx(model, tokenizer, fp32)
    try:
        graph = onnx.load(str(fp32))
        # The dynamo exporter annotates intermediate values with shapes seen on the example batch (a [2]
        # here and there); the quantizer's strict shape inference then stops on "(384) vs (2)". The
        # annotations are optional hints: without them shapes are inferred from the graph alone.
        del graph.graph.value_info[:]
        onnx.save(graph, str(fp32))
        with _quiet():
            # Signed int8 weights with one scale per output channel, the usual choice for transformer
            # weights. On a 1-epoch minilm polarity run (400 validation sentences) per-tensor, per-channel
            # and per-channel with 7-bit weights (reduce_range) all landed 1 to 3 sentences from fp32;
            # quantizing only the embedding table cost nothing, so the loss comes from the MatMuls.
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        fp32.unlink(missing_ok=True)


@contextlib.contextmanager
def _no_quantization_deprecation():
    with warnings.catch_warnings():
        # torch.ao.quantization and its qint8 tensors warn that they move to torchao; in torch 2.13 they
        # are still the built-in way, and torchao would be one more dependency for the same int8 Linear
        # kernels. (If a later torch drops them, this format is the one to port.)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*(quantize_per_tensor|quantized tensor|TypedStorage)")
        yield


def _quantize_linear(model):
    with _no_quantization_deprecation():
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def write_torch_int8(model, out: Path) -> None:
    q = _quantize_linear(copy.deepcopy(model).eval())
    q.config.save_pretrained(str(out))  # config.json: rebuilds the architecture on load
    # A plain state dict (not a pickled module): torch.load(weights_only=True) can read it back.
    with _no_quantization_deprecation():
        torch.save(q.state_dict(), out / INT8_STATE)


def write_bf16(model, out: Path) -> None:
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(str(out))  # config.json + model.safetensors


class OneTextAtATime:
    """A network whose answer for a text must not depend on the other texts of its batch: each row runs alone on
    its own tokens (no padding), and the logits are laid back into the batch's shape. `Task.batched_logits` calls
    it as it calls any model (`eval()`, `device`, `model(**batch).logits`)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):  # device, config, ... of the wrapped network
        if name == "model":  # not set yet (copy, pickle): no endless recursion through self.model
            raise AttributeError(name)
        return getattr(self.model, name)

    def eval(self) -> "OneTextAtATime":
        self.model.eval()
        return self

    def __call__(self, input_ids, attention_mask, **rest) -> SimpleNamespace:
        out = None
        for i in range(input_ids.shape[0]):
            keep = attention_mask[i].bool()  # the real tokens, wherever the tokenizer put the padding
            row = {"input_ids": input_ids[i][keep][None], "attention_mask": attention_mask[i][keep][None],
                   **{k: v[i][keep][None] for k, v in rest.items() if v.dim() == 2}}
            logits = self.model(**row).logits
            if out is None:  # [batch, labels], or [batch, tokens, labels] for token classification
                shape = (input_ids.shape[0], *((input_ids.shape[1],) if logits.dim() == 3 else ()), logits.shape[-1])
                out = torch.zeros(shape, dtype=logits.dtype)
            if logits.dim() == 3:
                out[i, keep] = logits[0]
            else:
                out[i] = logits[0]
        return SimpleNamespace(logits=out)


def load_onnx(path: Path, task):
    from .onnx_model import OnnxModel  # onnxruntime only when an ONNX export is loaded
    return OnnxModel(path / ONNX_FILE)


def load_torch_int8(path: Path, task):
    from transformers import AutoConfig
    model = task.model_class.from_config(AutoConfig.from_pretrained(str(path)))
    model = _quantize_linear(model.eval())  # same structure as at export, then the saved int8 weights
    with _no_quantization_deprecation():
        model.load_state_dict(torch.load(path / INT8_STATE, weights_only=True))
    return OneTextAtATime(model.eval())  # per-tensor activation scales: see the module docstring


def load_bf16(path: Path, task):
    return task.model_class.from_pretrained(str(path), dtype=torch.bfloat16).eval()


def load_onnx_int8(path: Path, task):
    return OneTextAtATime(load_onnx(path, task))


@dataclass(frozen=True)
class ExportFormat:
    name: str
    summary: str
    write: Callable  # (model, tokenizer, out_dir) -> None: the weights (and, for torch formats, config.json)
    load: Callable  # (export_dir, task) -> a network ready for task.predict / task.evaluate
    files: tuple[str, ...]  # the weight files: what the export's size counts (not tokenizer or metadata)
    # ONNX files carry no Hugging Face config: the run's config.json is copied beside them (architecture, id2label)
    needs_hf_config: bool = False
    # Batched as is, a text's answer would depend on its batch companions (activation scales per batch): its
    # loader runs texts one at a time (OneTextAtATime); tests/export/test_export.py checks every format
    one_at_a_time: bool = False
    # What the format holds: a text classifier's graph (False) or a decoder that generates text (True, GGUF); a
    # run is exported only in the formats of its kind (Task.export_kind)
    decoder: bool = False
    # Measured by `--format auto`: formats tuneforge serves faster than fp32. GGUF is for llama.cpp; read back
    # here it is dequantized to fp32, so its speed says nothing of llama.cpp's
    in_auto: bool = True


EXPORT_FORMATS: dict[str, ExportFormat] = {}


def register_format(spec: ExportFormat) -> ExportFormat:
    EXPORT_FORMATS[spec.name] = spec
    return spec


register_format(ExportFormat("onnx", "ONNX graph, fp32 (ONNX Runtime)",
                             lambda m, tok, out: write_onnx(m, tok, out / ONNX_FILE), load_onnx, (ONNX_FILE,),
                             needs_hf_config=True))
register_format(ExportFormat("onnx-int8", "ONNX graph with int8 weights and activations, each text run alone",
                             lambda m, tok, out: write_onnx_int8(m, tok, out / ONNX_FILE), load_onnx_int8,
                             (ONNX_FILE,), needs_hf_config=True, one_at_a_time=True))
register_format(ExportFormat("torch-int8", "PyTorch, every Linear int8 (dynamic quantization), each text run alone",
                             lambda m, tok, out: write_torch_int8(m, out), load_torch_int8, (INT8_STATE,),
                             one_at_a_time=True))
register_format(ExportFormat("bf16", "PyTorch, every weight bfloat16 (half the size)",
                             lambda m, tok, out: write_bf16(m, out), load_bf16, ("model.safetensors",)))
register_format(ExportFormat("gguf", "GGUF for llama.cpp, fp16 matrices (Llama-family decoders: SmolLM2)",
                             lambda m, tok, out: write_gguf(m, tok, out / GGUF_FILE, "F16"), load_gguf,
                             (GGUF_FILE,), decoder=True, in_auto=False))
register_format(ExportFormat("gguf-q8_0", "GGUF for llama.cpp, 8-bit Q8_0 matrices (about half of fp16)",
                             lambda m, tok, out: write_gguf(m, tok, out / GGUF_FILE, "Q8_0"), load_gguf,
                             (GGUF_FILE,), decoder=True, in_auto=False))
FORMATS = tuple(EXPORT_FORMATS)  # the names, in registration order (the CLI's help, error messages)


def formats_for(task) -> tuple[str, ...]:
    """The formats a run of `task` exports to: a classifier's graphs, a decoder's GGUF, or none (images)."""
    if task.export_kind is None:
        return ()
    return tuple(n for n, f in EXPORT_FORMATS.items() if f.decoder == (task.export_kind == "decoder"))


def export_format(name: str) -> ExportFormat:
    return EXPORT_FORMATS[name]
