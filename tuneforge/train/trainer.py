"""Transformers Trainer set-up: dynamic padding, length-grouped batches, bf16 autocast, AdamW with
per-group learning rates and linear warm-up/decay, early stopping on the validation metric with the
best checkpoint restored, checkpoints to resume from after a kill.

Nothing here is a hand-written loop, so the same code runs under `accelerate launch` on many
processes or GPUs.
"""

from __future__ import annotations

import contextlib
import math

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

from ..config import Config
from . import console
from .adversarial import EmbeddingAdversary


class LengthBuckets(torch.utils.data.Sampler):
    """An epoch's order for batches of near-equal length: the examples sorted by length (ties in random order),
    cut into batches, the batches shuffled. transformers' group_by_length sorts only within mega-batches of
    min(n / 4 batches, 50) batches: on a few hundred long-tailed chat examples that is one or two batches, so most
    batches still hold one long answer and pad everything to it (measured: batches of 256, 129, 256, 176 tokens
    for a 64-example FAQ whose mean is 87). Random numbers come from torch's global generator, as transformers'
    samplers' do, so the Trainer's seed and a resumed checkpoint's saved RNG state give the same order."""

    def __init__(self, lengths: list[int], batch_size: int):
        self.lengths, self.batch_size = lengths, batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        order = sorted(torch.randperm(len(self.lengths)).tolist(), key=self.lengths.__getitem__)  # stable sort
        full = len(order) // self.batch_size * self.batch_size
        batches = [order[i:i + self.batch_size] for i in range(0, full, self.batch_size)]
        for b in torch.randperm(len(batches)).tolist():
            yield from batches[b]
        # The short remainder last: the DataLoader cuts this flat order every batch_size examples, and a short
        # batch anywhere else would shift every later cut across two buckets.
        yield from order[full:]


class GroupedLRTrainer(Trainer):
    """Trainer whose AdamW gives freshly initialised parameters (the head) their own learning rate; with
    `adversary` each step also trains on an FGM/PGD-perturbed copy of the batch (train/adversarial.py)."""

    def __init__(self, *args, fresh_params: set[str] = frozenset(), head_lr: float | None = None,
                 adversary: EmbeddingAdversary | None = None, class_weights: list[float] | None = None,
                 length_buckets: bool = False, **kw):
        super().__init__(*args, **kw)
        self.length_buckets = length_buckets  # a task's choice (Task.length_buckets): LengthBuckets above
        # train.class_weight=balanced (train/auto.py): the cross-entropy weighs each class n / (k x count)
        self.class_weights = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        # Every loss here (the models' cross-entropy, the mean-pooled head's, distillation's) is a plain mean
        # over the batch. A Trainer that thinks the model takes `num_items_in_batch` (any forward with **kwargs)
        # multiplies the loss by the process count (average_tokens_across_devices) and skips the division by
        # gradient-accumulation steps: under 2 processes the logged loss and the gradients were doubled.
        self.model_accepts_loss_kwargs = False
        self.fresh_params = set(fresh_params)
        self.head_lr = head_lr
        self.adversary = adversary
        # Set by a method before training (tuneforge.methods.distill): (student_logits, batch) -> loss for
        # batches that carry "teacher_logits"; evaluation batches carry none and keep the task's loss.
        self.distill_loss = None

    def _get_train_sampler(self, train_dataset=None):
        data = self.train_dataset if train_dataset is None else train_dataset
        if self.length_buckets and self.args.train_sampling_strategy == "group_by_length" and isinstance(data, list):
            # per process: under accelerate each process draws the same order and takes its own batches of it
            return LengthBuckets([len(f["input_ids"]) for f in data],
                                 self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps)
        return super()._get_train_sampler(train_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.class_weights is not None and "labels" in inputs and "teacher_logits" not in inputs:
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            logits = outputs.logits.float()
            loss = torch.nn.functional.cross_entropy(  # weighted mean: divides by the batch's summed weights
                logits.view(-1, logits.shape[-1]), inputs["labels"].view(-1),
                weight=self.class_weights.to(logits.device))
            return (loss, outputs) if return_outputs else loss
        if self.distill_loss is None or "teacher_logits" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        outputs = model(**{k: v for k, v in inputs.items() if k != "teacher_logits"})  # no pop: inputs is reused
        loss = self.distill_loss(outputs.logits, inputs)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.adversary is None:
            return super().training_step(model, inputs, num_items_in_batch)
        # Clean pass (forward + backward) as usual, keeping the embedding output and its gradient; then the
        # perturbed pass, whose backward adds its gradients to the clean ones before the optimizer step.
        emb = self.accelerator.unwrap_model(model).get_input_embeddings()
        with self.adversary.record(emb) as kept:
            clean = super().training_step(model, inputs, num_items_in_batch)
        if len(kept) != 1:  # the embedding ran more or less than once: no well-defined activation to perturb
            return clean
        prepared = self._prepare_inputs(inputs)

        def loss_fn():
            with self.compute_loss_context_manager():
                return self.compute_loss(model, prepared, num_items_in_batch=num_items_in_batch)

        delta = self.adversary.delta(emb, kept[0], loss_fn, getattr(model, "no_sync", contextlib.nullcontext))
        if delta is None:
            return clean
        with self.adversary.perturb(emb, delta):
            adv = super().training_step(model, inputs, num_items_in_batch)
        del adv  # its gradients are in; the logged loss stays the clean one, comparable with plain training
        return clean

    def create_optimizer(self, model=None):
        if self.optimizer is not None:
            return self.optimizer
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        groups: dict[tuple[bool, bool], list] = {}
        for n, p in model.named_parameters():
            if not p.requires_grad:
                continue
            is_head = n in self.fresh_params
            groups.setdefault((is_head, n in decay), []).append(p)
        param_groups = []
        for (is_head, has_decay), params in groups.items():
            param_groups.append({"params": params,
                                 "weight_decay": self.args.weight_decay if has_decay else 0.0,
                                 "lr": (self.head_lr or self.args.learning_rate) if is_head else self.args.learning_rate})
        # The LR scheduler scales every group's own initial lr, so warm-up and decay apply to both.
        # fused=True: one kernel over all tensors. On this 2-core CPU it cut minilm-l6's optimizer step
        # from 177 to 50 ms (a 16 x 32-token step: 715 -> 535 ms), with identical maths.
        fused = all(p.device.type in ("cpu", "cuda") for g in param_groups for p in g["params"])
        self.optimizer = torch.optim.AdamW(param_groups, lr=self.args.learning_rate,
                                           betas=(self.args.adam_beta1, self.args.adam_beta2),
                                           eps=self.args.adam_epsilon, fused=fused)
        return self.optimizer


class FlooredEarlyStopping(EarlyStoppingCallback):
    """Early stopping that cannot end training before `floor` optimizer steps (train.min_steps, and never
    inside the warm-up): on small data the first evaluations come before the head has learnt anything, and
    two flat ones stopped a run at 51 steps predicting one class for everything."""

    def __init__(self, patience: int, floor: int):
        super().__init__(early_stopping_patience=patience)
        self.floor = floor

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        super().on_evaluate(args, state, control, metrics, **kwargs)
        if state.global_step < self.floor:  # a flat start counts for nothing; the best checkpoint is still kept
            self.early_stopping_patience_counter = 0
            control.should_training_stop = False


MAX_EVALS = 12


def training_arguments(cfg: Config, n_train: int, checkpoint_dir: str, bf16: bool, world_size: int = 1,
                       has_validation: bool = True, metric: str = "macro_f1",
                       progress: bool = True, greater_is_better: bool = True) -> TrainingArguments:
    t = cfg.train
    steps_per_epoch = max(1, math.ceil(n_train / (t.batch_size * t.gradient_accumulation * world_size)))
    total_steps = max(1, math.ceil(steps_per_epoch * t.epochs))
    # evals_per_epoch per epoch, but at most MAX_EVALS in a run: small data trained for many epochs (the
    # train.min_steps floor) spent more time validating 300 rows every 9 steps than training.
    eval_steps = max(1, steps_per_epoch // t.evals_per_epoch, math.ceil(total_steps / MAX_EVALS))
    return TrainingArguments(
        output_dir=checkpoint_dir,
        num_train_epochs=t.epochs,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        lr_scheduler_type="linear",
        warmup_steps=int(round(t.warmup_ratio * total_steps)),
        max_grad_norm=t.max_grad_norm,
        bf16=bf16,  # autocast: weights stay fp32, matmuls run in bf16 (AMX on this CPU)
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        eval_strategy="steps" if has_validation else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if has_validation else "epoch",
        save_steps=eval_steps,
        save_total_limit=2,  # the best and the latest survive: enough to restore best and to resume
        load_best_model_at_end=has_validation,
        metric_for_best_model=metric if has_validation else None,
        greater_is_better=greater_is_better,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        seed=t.seed,
        data_seed=t.seed,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,  # tokenised data is in memory; worker processes only cost RAM here
        remove_unused_columns=False,
        save_only_model=False,  # optimizer and scheduler state are needed to resume exactly
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
    )


def build_trainer(cfg: Config, model, tokenizer, train_feats, val_feats, collator, compute_metrics,
                  preprocess_logits, fresh_params, head_lr, metric, checkpoint_dir, bf16, world_size=1,
                  progress=True, callbacks=(), verbosity=console.NORMAL, class_weights=None, greater_is_better=True,
                  length_buckets=False):
    """`progress`: step bars; `verbosity` (console.py): what is printed beside them."""
    args = training_arguments(cfg, len(train_feats), checkpoint_dir, bf16, world_size,
                              has_validation=bool(val_feats), metric=metric, progress=progress,
                              greater_is_better=greater_is_better)
    cbs = list(callbacks)
    if val_feats and cfg.train.early_stopping_patience > 0:
        cbs.append(FlooredEarlyStopping(cfg.train.early_stopping_patience,
                                        max(cfg.train.min_steps, int(args.warmup_steps))))
    trainer = GroupedLRTrainer(
        model=model, args=args, train_dataset=train_feats, eval_dataset=val_feats or None,
        data_collator=collator, processing_class=tokenizer, compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=preprocess_logits, callbacks=cbs,
        fresh_params=fresh_params, head_lr=head_lr, adversary=EmbeddingAdversary.from_config(cfg.train),
        class_weights=class_weights, length_buckets=length_buckets)
    console.attach(trainer, verbosity, metric)  # clean evaluation lines instead of the Trainer's raw dicts
    return trainer
