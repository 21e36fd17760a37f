"""tuneforge: labeled data in; a fine-tuned, evaluated model out — offline, on a CPU."""

__version__ = "0.1.0"
