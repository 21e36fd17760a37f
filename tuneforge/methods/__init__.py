"""Tuning methods beyond full fine-tuning: PEFT adapters, few-shot (SetFit), zero-shot, distillation,
adversarial training and hyperparameter search. One module per method."""
