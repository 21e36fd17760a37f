"""Image classification: an image in, one label with probabilities out; EfficientNet-Lite by default.

It plugs into the same pipeline as the text tasks: `tuneforge.data.images` reads and checks every
image up front, the Transformers Trainer trains (the head at its own learning rate; with
`image.linear_probe` only the head), and the run directory holds the same files plus
`worst_mistakes.png`. The "tokenizer" slot holds an `ImageProcessor`: it remembers how training
images were stored (size, channels) so a run brings new images to the same form.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import classification_report, confusion_matrix

from ..backbones.efficientnet import EfficientNetLiteForImageClassification
from ..data.images import ImageExample, load_image
from ..errors import TuneforgeError
from .class_metrics import ClassificationMetrics, accuracy_macro_f1
from .base import Task, TaskDefaults, autocast, register_task

PROCESSOR_FILE = "preprocessor_config.json"


class ImageProcessor:
    """How an input image becomes the uint8 (C, H, W) array the model takes; saved in the run directory.

    `stored_size`/`channels` are those of the training images (set when the training split is encoded):
    a model trained on 28x28 grayscale Fashion-MNIST sees a new photo the way it saw its training data,
    scaled down to 28x28 gray first, then up inside the model."""
    model_input_names = ["pixel_values"]  # the Trainer asks its processing_class for this

    def __init__(self, stored_size: int | None = None, channels: int | None = None):
        self.stored_size = stored_size
        self.channels = channels

    def fit(self, examples: list[ImageExample]) -> None:
        if self.stored_size is None and examples:
            self.stored_size = int(examples[0].pixels.shape[-1])
            self.channels = max(int(e.pixels.shape[0]) for e in examples)

    def __call__(self, src, where: str | None = None) -> np.ndarray:
        return load_image(src, self.stored_size, self.channels, where=where)

    def save_pretrained(self, path) -> None:
        Path(path, PROCESSOR_FILE).write_text(json.dumps(
            {"processor": "tuneforge-image", "stored_size": self.stored_size, "channels": self.channels}, indent=2))

    @classmethod
    def from_pretrained(cls, path) -> "ImageProcessor":
        f = Path(path, PROCESSOR_FILE)
        if not f.is_file():  # a backbone directory: nothing is known until the training data is seen
            return cls()
        d = json.loads(f.read_text())
        return cls(d.get("stored_size"), d.get("channels"))


class ImageCollator:
    """Stacks uint8 images; a batch that mixes grayscale and RGB images gets three channels throughout."""

    def __call__(self, features: list[dict]) -> dict:
        px = [torch.as_tensor(f["pixel_values"]) for f in features]
        c = max(p.shape[0] for p in px)
        batch = {"pixel_values": torch.stack([p.expand(c, -1, -1) for p in px])}
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch


@register_task("image-classification")
class ImageClassificationTask(ClassificationMetrics, Task):
    metric_for_best = "macro_f1"
    export_kind = None
    export_note = "exports are built for text models; an image run is served from its run directory"
    takes_text = False
    input_kind = "images"
    # Full fine-tuning of efficientnet-lite0 on Fashion-MNIST subsets (BENCHMARKS.md): a new head learns
    # fastest; the pretrained body at 1e-3 with AdamW (the usual rate for fine-tuning small conv nets).
    defaults = TaskDefaults(learning_rate=1e-3, head_learning_rate=3e-3, num_layers=None, dropout=None,
                            freeze_embeddings=False)
    model_class = EfficientNetLiteForImageClassification


    def card_parts(self, cfg, labels: list[str]) -> dict:
        """Inputs are images, not texts: every line but the headline differs."""
        im, o = cfg.image, cfg.output_dir
        aug = (f"random resized crop (area >= {im.crop_min_scale:.0%}){' + left-right flip' if im.flip else ''} on "
               "training batches" if im.augment else "none")
        return super().card_parts(cfg, labels) | {
            "shape": (f"input {im.size}x{im.size} px, augmentation: {aug}, "
                      f"{'linear probe (body frozen, only the head trained)' if im.linear_probe else 'full fine-tuning'}"),
            "use": (f"tuneforge predict {o} --input image.png\ntuneforge predict {o} --input images_folder/ "
                    f"--output predictions.jsonl\ntuneforge evaluate {o} --data labeled_folder_or_table"),
            "example": '{"image": "...", "label": "%s", "probabilities": {...}}' % labels[0],
            "body": "",
            "hf": (f"`tuneforge.backbones.efficientnet.EfficientNetLiteForImageClassification.from_pretrained(\"{o}\")` "
                   "(pixel_values: uint8 N x C x H x W; the model scales and normalises)"),
            "limits": (f"images unlike them (other cameras, backgrounds, sizes; inputs are centre-cropped and resized "
                       f"to {im.size} px). `worst_mistakes.png` shows the test images the model got wrong most confidently"),
        }

    def load_processor(self, path: str) -> ImageProcessor:
        return ImageProcessor.from_pretrained(path)

    def build_model(self, backbone_path: str, labels: list[str], cfg):
        from transformers import AutoConfig
        im, t = cfg.image, cfg.train
        # Lengths mean nothing for images; resolved here so the saved config shows what ran.
        t.group_by_length = False
        kw = {"dropout_rate": t.dropout} if t.dropout is not None else {}
        hf = AutoConfig.from_pretrained(backbone_path, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                        label2id={l: i for i, l in enumerate(labels)}, image_size=im.size,
                                        augment=im.augment, crop_min_scale=im.crop_min_scale, flip=im.flip,
                                        linear_probe=False, **kw)
        if getattr(hf, "model_type", "") != "tuneforge-efficientnet-lite":
            raise TuneforgeError(f"{cfg.backbone} is not an image backbone tuneforge can fine-tune",
                                 where="backbone", fix="use efficientnet-lite0 (see `tuneforge models`)")
        # ignore_mismatched_sizes: a finished run used as the backbone brings a head for other classes
        model, info = self.model_class.from_pretrained(backbone_path, config=hf, output_loading_info=True,
                                                       ignore_mismatched_sizes=True)
        fresh = set(info["missing_keys"]) | {m[0] if isinstance(m, (tuple, list)) else m
                                             for m in info.get("mismatched_keys", [])}
        if im.linear_probe:
            model.freeze_body()
        return model, fresh

    def labels(self, train: list[ImageExample]) -> list[str]:
        return sorted({e.label for e in train})

    def collator(self, processor):
        return ImageCollator()

    def encode(self, processor: ImageProcessor, examples: list[ImageExample], labels: list[str],
               max_length: int) -> list[dict]:
        processor.fit(examples)  # the first call is the training split (train.run encodes it first)
        index = {l: i for i, l in enumerate(labels)}
        return [{"pixel_values": torch.from_numpy(e.pixels),
                 **({"labels": index[e.label]} if e.label in index else {})} for e in examples]

    def length_of(self, processor, examples) -> list[int]:
        return []  # the data report's token lengths do not apply

    @staticmethod
    def probabilities(model, pixels: list, batch_size: int, bf16: bool, progress: bool = False) -> np.ndarray:
        """Softmax per image, in input order, one batch at a time."""
        from tqdm.auto import tqdm
        model.eval()
        collate = ImageCollator()
        out = []
        with torch.inference_mode(), autocast(bf16):
            for s in tqdm(range(0, len(pixels), batch_size), desc="predict", disable=not progress, unit="batch"):
                batch = collate([{"pixel_values": p} for p in pixels[s:s + batch_size]])
                logits = model(batch["pixel_values"].to(model.device)).logits.float()
                out.append(logits.softmax(-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, model.config.num_labels))

    def class_scores(self, model, processor, examples: list[ImageExample], max_length: int, batch_size: int,
                     bf16: bool) -> np.ndarray:
        """Log-probabilities per image and class (train/decision_bias.py chooses its offsets on these)."""
        probs = self.probabilities(model, [torch.from_numpy(e.pixels) for e in examples], batch_size, bf16)
        return np.log(np.clip(probs, 1e-30, None))

    def evaluate(self, model, processor, examples: list[ImageExample], labels: list[str], max_length: int,
                 batch_size: int, bf16: bool, progress: bool = True) -> dict:
        probs = self.probabilities(model, [torch.from_numpy(e.pixels) for e in examples], batch_size, bf16, progress)
        y_pred = probs.argmax(-1)
        index = {l: i for i, l in enumerate(labels)}
        y_true = np.array([index[e.label] for e in examples])
        ids = list(range(len(labels)))
        metrics = {**accuracy_macro_f1(y_true, y_pred, len(labels)), "n": len(examples)}
        report = classification_report(y_true, y_pred, labels=ids, target_names=labels, digits=4, zero_division=0)
        predictions = [{"image": e.path, "label": e.label, "predicted": labels[int(p)],
                        "confidence": float(probs[i, p])} for i, (e, p) in enumerate(zip(examples, y_pred))]
        wrong = np.flatnonzero(y_pred != y_true)
        worst = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")][:25]  # most confident errors
        return {"metrics": metrics, "report": report, "predictions": predictions,
                "confusion": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
                "worst_mistakes": [(examples[i], labels[int(y_pred[i])], float(probs[i, y_pred[i]])) for i in worst]}

    def predict(self, model, processor: ImageProcessor, inputs: list, labels: list[str], max_length: int,
                batch_size: int, bf16: bool) -> list[dict]:
        """`inputs`: image paths, bytes or file objects; each is checked and decoded before the model runs."""
        if processor.stored_size is None:
            raise TuneforgeError("the run directory has no preprocessor_config.json", where="run directory",
                                 fix="train the run again with this tuneforge version")
        pixels = [torch.from_numpy(processor(x)) for x in inputs]
        probs = self.probabilities(model, pixels, batch_size, bf16)
        out = []
        for x, p in zip(inputs, probs):
            best = int(p.argmax())
            out.append({"image": str(x) if isinstance(x, (str, Path)) else "<upload>", "label": labels[best],
                        "probabilities": {l: round(float(v), 6) for l, v in zip(labels, p)}})
        return out
