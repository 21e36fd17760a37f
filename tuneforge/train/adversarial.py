"""Adversarial training on the word-embedding output: FGM (Miyato et al., 2017) and PGD (Madry et al., 2018).

Each training step runs the clean batch, then the same batch with every example's word-embedding
output moved by `delta` in the direction that raises the loss most, and adds both losses' gradients.
FGM takes one step, delta = epsilon * g / ||g||, from the gradient g the clean pass already computed.
PGD takes `steps` steps of size alpha and projects delta back into the epsilon ball after each.

We perturb the embedding *activations* through a forward hook, not the embedding matrix as the popular
FGM snippet does: the matrix is frozen by default here (and by PEFT), so it has no gradient to follow,
while the activations always can. Norms are per example (over all its token vectors), as in Miyato et
al., so a long review and a two-word one get a perturbation of the same size.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch

from ..config import TrainConfig


def _per_example_unit(g: torch.Tensor) -> torch.Tensor:
    """g / ||g|| with the L2 norm taken over every dimension but the batch one."""
    norm = g.flatten(1).norm(dim=1).clamp(min=1e-12)
    return g / norm.view(-1, *([1] * (g.dim() - 1)))


def _project(delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Scale each example's delta back onto the epsilon ball if it left it."""
    norm = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
    scale = (epsilon / norm).clamp(max=1.0)
    return delta * scale.view(-1, *([1] * (delta.dim() - 1)))


@dataclass
class EmbeddingAdversary:
    method: str  # fgm | pgd
    epsilon: float = 1.0
    steps: int = 3
    alpha: float | None = None

    @classmethod
    def from_config(cls, t: TrainConfig) -> "EmbeddingAdversary | None":
        if t.adversarial == "none":
            return None
        return cls(t.adversarial, t.adversarial_epsilon, t.adversarial_steps,
                   t.adversarial_alpha if t.adversarial_alpha is not None else 0.3 * t.adversarial_epsilon)

    # -- hooks -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def record(self, embeddings: torch.nn.Module):
        """During the clean pass: keep the embedding output and make sure it receives a gradient
        (with a frozen matrix it would not; detaching it costs nothing because nothing upstream trains)."""
        kept: list[torch.Tensor] = []

        def hook(module, args, out):
            if not out.requires_grad:
                out = out.detach().requires_grad_(True)
            else:
                out.retain_grad()
            kept.append(out)
            return out

        handle = embeddings.register_forward_hook(hook)
        try:
            yield kept
        finally:
            handle.remove()

    @contextlib.contextmanager
    def perturb(self, embeddings: torch.nn.Module, delta: torch.Tensor):
        """Add `delta` to the embedding output of every forward pass inside the block."""
        def hook(module, args, out):
            if out.shape != delta.shape:  # another batch slipped in: never perturb the wrong shape
                raise RuntimeError(f"embedding output {tuple(out.shape)} does not match delta {tuple(delta.shape)}")
            return out + delta.to(out.dtype)

        handle = embeddings.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    # -- the attack ------------------------------------------------------------------------------
    def delta(self, embeddings: torch.nn.Module, clean_out: torch.Tensor,
              loss_fn: Callable[[], torch.Tensor], no_sync=contextlib.nullcontext) -> torch.Tensor | None:
        """The perturbation to train on, from the clean pass's embedding output (which holds its gradient
        after the clean backward). PGD's inner steps differentiate w.r.t. delta only, so the model's
        parameter gradients are untouched until the final adversarial backward. None: no gradient
        reached the embeddings (nothing to follow)."""
        g = clean_out.grad
        if g is None or not torch.isfinite(g).all():
            return None
        g = g.detach().float()
        if self.method == "fgm":
            return self.epsilon * _per_example_unit(g)
        delta = self.alpha * _per_example_unit(g)
        for _ in range(self.steps - 1):
            delta = delta.detach().requires_grad_(True)
            with no_sync(), self.perturb(embeddings, delta):
                loss = loss_fn()
            (step,) = torch.autograd.grad(loss, delta)
            delta = _project(delta.detach() + self.alpha * _per_example_unit(step.float()), self.epsilon)
        return delta.detach()
