"""The generation experiments' code path on a GPU: the embedded checkpoint in float16 on CUDA against float32 on the
CPU, with the library the workflow's rules call (``decoding.decode``, ``analysis.generation``).

For each decoding method (naive, VCD, VDD-None, VDD-Unk, VDD-Both), greedy captions of ``--captions`` evaluation
images and greedy answers to ``--questions`` POPE questions, on each device: wall time, CHAIR / POPE metrics, and how
many texts agree between the devices (float16 may flip near-ties; the metrics should stay close). Needs a built
embedded model and world (``data/models/shapes-llava``, ``data/shapes_world``); run with ``PYTHONPATH=src``.
Writes ``--out`` and prints it.
"""

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from lvlm_debias.analysis.generation import answer_frame, caption_frame, chair_table, contrastive_table
from lvlm_debias.benchmarks import answer_parser
from lvlm_debias.data.jsonl import read_jsonl
from lvlm_debias.decoding.base import DecodingParameters
from lvlm_debias.decoding.decode import decode_records
from lvlm_debias.decoding.methods import DECODING_METHODS
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.models.load import load_model
from lvlm_debias.world.captions import caption_questions


def run(
    device: str, args, entry, captions, questions, parameters: DecodingParameters
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    model, processor = load_model(args.model, dtype="auto", device=device)
    greedy = DecodingConfig(do_sample=False)
    kwargs = {"batch_size": args.batch_size, "seed": 0}
    texts, answers, seconds = [], [], {}
    for method in DECODING_METHODS:
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        texts.append(
            decode_records(
                model,
                processor,
                captions,
                args.world,
                entry["prompt"],
                [method],
                "greedy",
                greedy,
                parameters,
                max_new_tokens=24,
                **kwargs,
            )  # fmt: skip
        )
        answers.append(
            decode_records(
                model,
                processor,
                questions,
                args.world,
                entry["prompt"],
                [method],
                "greedy",
                greedy,
                parameters,
                max_new_tokens=4,
                **kwargs,
            )  # fmt: skip
        )
        if device == "cuda":
            torch.cuda.synchronize()
        seconds[method] = time.perf_counter() - started
    return pd.concat(texts), pd.concat(answers), seconds


def _agreement(ours: pd.DataFrame, theirs: pd.DataFrame, method: str) -> float:
    """Share of one method's texts that are identical on both devices (rows in the same question order)."""
    a = ours.loc[ours["method"] == method, "text"].to_numpy()
    b = theirs.loc[theirs["method"] == method, "text"].to_numpy()
    return float((a == b).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="data/models/shapes-llava")
    parser.add_argument("--world", default="data/shapes_world")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--captions", type=int, default=100)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default="results/bench/gpu_generation.csv")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark compares CUDA float16 with CPU float32")
    config = yaml.safe_load(Path(args.config).read_text())
    entry = config["models"]["shapes-llava"]
    vocabulary = config["generation"]["captions"]["objects"]
    captions = caption_questions(read_jsonl(Path(args.world) / "annotations.jsonl"), args.captions)
    questions = read_jsonl(Path(args.world) / "pope" / "random.jsonl")[: args.questions]
    parameters = DecodingParameters.from_section(config["generation"])  # the config's alpha and beta
    results = {device: run(device, args, entry, captions, questions, parameters) for device in ("cuda", "cpu")}
    parse = answer_parser("pope", config["benchmarks"]["pope"].get("parser"))
    rows = []
    for device, (texts, answers, seconds) in results.items():
        chair = chair_table(caption_frame(texts, captions), vocabulary).set_index("method")
        pope = contrastive_table({"pope/random": answer_frame(answers, questions, parse)})
        pope = pope.set_index("method")
        other_texts, other_answers, _ = results["cpu" if device == "cuda" else "cuda"]
        for method in DECODING_METHODS:
            same_captions = _agreement(texts, other_texts, method)
            same_answers = _agreement(answers, other_answers, method)
            rows.append(
                {
                    "device": device,
                    "dtype": "float16" if device == "cuda" else "float32",
                    "method": method,
                    "seconds": round(seconds[method], 2),
                    "chair_s": chair.loc[method, "chair_s"],
                    "chair_i": chair.loc[method, "chair_i"],
                    "recall": chair.loc[method, "recall"],
                    "pope_f1": pope.loc[method, "f1"],
                    "pope_accuracy": pope.loc[method, "accuracy"],
                    "captions_same_as_other_device": same_captions,
                    "answers_same_as_other_device": same_answers,
                }
            )
    table = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4g")
    print(f"{torch.cuda.get_device_name()}: {len(captions)} captions, {len(questions)} POPE questions")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
