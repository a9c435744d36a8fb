"""Checkpoint files laid out as the real hub repositories hold them (shared/real-artifacts.md, "Checkpoints"), made
from what ``save_pretrained`` writes today for the same weights, and what a test reads back from a loaded model.

``save_pretrained`` (transformers 5) puts the image processor's settings inside ``processor_config.json``; the hub
repos of the paper's models were written by older versions:

- ``llava-hf/llava-1.5-7b-hf`` at 95f2cf3 ("Typo (#30)"): no ``processor_config.json``; the image processor config
  alone in ``preprocessor_config.json`` (a plain CLIP image-processor config naming ``LlavaProcessor``); a tokenizer
  config that names no image token.
- llava-hf uploads before transformers 4.47: a ``processor_config.json`` without ``num_additional_image_tokens``.
- llava-hf today (and the 13B at ``main``): ``processor_config.json`` with ``image_token``,
  ``num_additional_image_tokens``, ``patch_size``, ``processor_class``, ``vision_feature_select_strategy`` only, the
  image processor in ``preprocessor_config.json``.
- ``Salesforce/instructblip-vicuna-7b`` at PR 14 (9e55477): ``processor_config.json`` naming the *video* processor,
  ``added_tokens.json`` with the image, video and pad tokens, ``video_token_index`` in ``config.json``.
- ``Salesforce/instructblip-vicuna-7b`` before PR 14: no processor config and no ``image_token_index``.

Each layout function takes the saved files (repo path -> bytes) and returns the rewritten ones; the weights are never
touched, so a layout must score exactly as the saved folder does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

#: the token the PR-14 InstructBLIP layout adds for videos (never used by the image processor)
VIDEO_TOKEN = "<video>"


def saved_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (``save_pretrained`` output, subfolders included) as repo path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _read(files: Mapping[str, bytes], name: str) -> dict:
    return json.loads(files[name])


def _json(data: Mapping) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _without_image_token(files: dict[str, bytes]) -> None:
    """The tokenizer config as tokenizers saved before transformers named an image token in it."""
    tokenizer = _read(files, "tokenizer_config.json")
    tokenizer.pop("image_token", None)
    files["tokenizer_config.json"] = _json(tokenizer)


def _split_image_processor(files: dict[str, bytes], processor_class: str) -> dict:
    """Move the image processor's settings out of ``processor_config.json`` into a plain
    ``preprocessor_config.json`` naming ``processor_class``; return what is left of the processor config."""
    processor = _read(files, "processor_config.json")
    image = processor.pop("image_processor")
    files["preprocessor_config.json"] = _json({**image, "processor_class": processor_class})
    return processor


def llava_hf_at_95f2cf3(saved: Mapping[str, bytes]) -> dict[str, bytes]:
    """llava-hf/llava-1.5-7b-hf at the paper config's revision: no processor config at all."""
    files = dict(saved)
    _split_image_processor(files, "LlavaProcessor")
    del files["processor_config.json"]
    _without_image_token(files)
    return files


def llava_hf_before_4_47(saved: Mapping[str, bytes]) -> dict[str, bytes]:
    """A llava-hf processor config uploaded before transformers 4.47: no ``num_additional_image_tokens``."""
    files = dict(saved)
    processor = _split_image_processor(files, "LlavaProcessor")
    processor.pop("num_additional_image_tokens")
    files["processor_config.json"] = _json(processor)
    _without_image_token(files)
    return files


def llava_hf_main(saved: Mapping[str, bytes]) -> dict[str, bytes]:
    """llava-hf at ``main`` today: the five processor keys in ``processor_config.json``, the image processor apart."""
    files = dict(saved)
    processor = _split_image_processor(files, "LlavaProcessor")
    keys = ("image_token", "num_additional_image_tokens", "patch_size", "processor_class",
            "vision_feature_select_strategy")  # fmt: skip
    files["processor_config.json"] = _json({k: processor[k] for k in keys})
    return files


def instructblip_pr14(saved: Mapping[str, bytes]) -> dict[str, bytes]:
    """Salesforce/instructblip-vicuna-7b at PR 14: the processor config names ``InstructBlipVideoProcessor`` and
    holds ``num_query_tokens`` only; ``added_tokens.json`` lists the image, video and pad tokens (the video token
    added to ``tokenizer.json`` too, after the vocabulary); ``config.json`` has ``video_token_index``."""
    files = dict(saved)
    processor = _split_image_processor(files, "InstructBlipProcessor")
    files["processor_config.json"] = _json(
        {"num_query_tokens": processor["num_query_tokens"], "processor_class": "InstructBlipVideoProcessor"}
    )
    _without_image_token(files)
    tokenizer = _read(files, "tokenizer.json")
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    video_id = max([*ids.values(), *tokenizer["model"]["vocab"].values()]) + 1
    tokenizer["added_tokens"].append(
        {"id": video_id, "content": VIDEO_TOKEN, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    )  # fmt: skip
    files["tokenizer.json"] = json.dumps(tokenizer).encode()
    pad = _read(files, "tokenizer_config.json")["pad_token"]
    files["added_tokens.json"] = _json({"<image>": ids["<image>"], VIDEO_TOKEN: video_id, pad: ids[pad]})
    config = _read(files, "config.json")
    config["video_token_index"] = video_id
    files["config.json"] = _json(config)
    return files


def instructblip_before_pr14(saved: Mapping[str, bytes]) -> dict[str, bytes]:
    """Salesforce/instructblip-vicuna-7b before PR 14: no processor config, no ``image_token_index``."""
    files = dict(saved)
    _split_image_processor(files, "InstructBlipProcessor")
    del files["processor_config.json"]
    _without_image_token(files)
    config = _read(files, "config.json")
    config.pop("image_token_index", None)
    files["config.json"] = _json(config)
    return files


def with_processor_values(saved: Mapping[str, bytes], **values) -> dict[str, bytes]:
    """The saved files with ``values`` written into ``processor_config.json`` (to force a wrong image-token count)."""
    files = dict(saved)
    files["processor_config.json"] = _json({**_read(files, "processor_config.json"), **values})
    return files


def expected_image_tokens(config: Mapping) -> int:
    """Image tokens per image the model's ``config.json`` (a dict) asks for, computed here independently of the
    library: InstructBLIP's ``num_query_tokens``; LLaVA's ``(image_size / patch_size)² + 1`` CLIP features, less the
    CLS token under the "default" strategy."""
    if config["model_type"] == "instructblip":
        return config["num_query_tokens"]
    vision = config["vision_config"]
    return (vision["image_size"] // vision["patch_size"]) ** 2 + (config["vision_feature_select_strategy"] == "full")


def layout_results(model, processor, questions: Sequence[Mapping], image_root: Path, template: str) -> dict:
    """What the scoring and decoding jobs compute with a loaded model, as plain JSON values: the probes' label
    probabilities (``score_questions``, every probe, over the whole tiny vocabulary), the first-step logits of every
    VDD / VCD reference branch, the greedy texts of every decoding method, and the naive input's image-token count
    per row and pixel tensor rank."""
    from lvlm_debias.decoding.base import DecodingParameters
    from lvlm_debias.decoding.decode import decode_records
    from lvlm_debias.decoding.methods import DECODING_METHODS
    from lvlm_debias.decoding.processors import ReferenceBranch, reference_inputs
    from lvlm_debias.decoding.sampling import DecodingConfig
    from lvlm_debias.inputs.probes import probe_inputs
    from lvlm_debias.models.prompts import build_prompt
    from lvlm_debias.scoring.score import YES_NO, score_questions

    paper_probes = ["naive", "none", "unk", "noise", "zero", "one"]  # the registry also holds VCD's vcd-noise
    scores, _, _ = score_questions(
        model, processor, questions, image_root, template=template, labels=YES_NO, probes=paper_probes, top_k=100,
        batch_size=2, seed=0,
    )  # fmt: skip
    prompts = [build_prompt(template, q["text"]) for q in questions]
    images = [Image.open(Path(image_root) / q["image"]).convert("RGB") for q in questions]
    references = {
        ref: ReferenceBranch(model, reference_inputs(processor, prompts, ref, images, list(range(len(prompts)))))
        .next_logits(None)
        .tolist()
        for ref in ("none", "unk", "vcd-noise")
    }
    texts = decode_records(
        model, processor, questions, image_root, template, list(DECODING_METHODS), "default",
        DecodingConfig(do_sample=False), DecodingParameters(alpha=1.0, beta=0.1), max_new_tokens=3, batch_size=2,
        seed=0,
    )  # fmt: skip
    naive = probe_inputs(processor, prompts, "naive", images)
    return {
        "processor": type(processor).__name__,
        "image_tokens": (naive["input_ids"] == model.config.image_token_id).sum(-1).tolist(),
        "pixel_dims": naive["pixel_values"].dim(),
        "rows": scores[["question_id", "probe"]].values.tolist(),
        "scores": scores[["p_yes", "p_no"]].values.ravel().tolist(),
        "references": references,
        "texts": texts[["method", "question_id", "text"]].values.tolist(),
    }
