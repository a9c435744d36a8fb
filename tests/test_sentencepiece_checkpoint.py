"""A checkpoint whose tokenizer is only a sentencepiece ``tokenizer.model`` (no ``tokenizer.json``), as older LLaMA /
Vicuna-based hub repos ship it, loads: transformers then converts it, which needs the sentencepiece and protobuf
packages (pyproject and both conda envs carry them)."""

import json

import sentencepiece as spm
import torch
from PIL import Image

from lvlm_debias.embedded.tiny_llava import TinyLlavaSpec, build_model, build_processor
from lvlm_debias.inputs.probes import probe_inputs
from lvlm_debias.models.load import load_model
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt
from lvlm_debias.scoring.score import next_token_logits


def _sentencepiece_folder(folder):
    """A folder holding only a trained sentencepiece model and a tokenizer config naming LlamaTokenizer."""
    corpus = folder / "corpus.txt"
    corpus.write_text("USER: Is there a red circle in the image? ASSISTANT: yes no star square blue\n" * 50)
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "sp"), vocab_size=60, model_type="bpe",
        user_defined_symbols=["<image>", "<pad>"], unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
    )  # fmt: skip
    (folder / "sp.model").rename(folder / "tokenizer.model")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>", "bos_token": "<s>",
                    "eos_token": "</s>", "pad_token": "<pad>", "extra_special_tokens": {"image_token": "<image>"}})
    )  # fmt: skip
    return folder


def test_a_checkpoint_with_only_a_sentencepiece_tokenizer_loads_and_scores(tmp_path):
    from transformers import AutoTokenizer

    folder = _sentencepiece_folder(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    spec = TinyLlavaSpec(image_size=32, patch_size=8, vision_hidden=32, text_hidden=32, max_positions=64)
    torch.manual_seed(0)
    build_model(spec, tokenizer).save_pretrained(folder)
    build_processor(spec, tokenizer).save_pretrained(folder)
    (folder / "tokenizer.json").unlink()  # what the old repos lack
    assert (folder / "tokenizer.model").is_file()

    model, processor = load_model(str(folder), device="cpu")
    assert len(processor.tokenizer) == 60 and processor.tokenizer.convert_tokens_to_ids("<image>") == 3
    prompt = build_prompt(LLAVA_HF, "Is there a red circle in the image?")
    logits = next_token_logits(model, probe_inputs(processor, [prompt], "naive", [Image.new("RGB", (32, 32), "red")]))
    assert logits.shape == (1, 60) and torch.isfinite(logits).all()
