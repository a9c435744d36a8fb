"""A word-level tokenizer built offline from a corpus, wrapped as a Hugging Face fast tokenizer."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", "<image>")

_PRE_TOKENIZER = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])


def words(texts: Iterable[str]) -> list[str]:
    """The distinct pre-tokenised words of ``texts``, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for word, _ in _PRE_TOKENIZER.pre_tokenize_str(text):
            seen.setdefault(word, None)
    return [w for w in seen if w not in SPECIAL_TOKENS]


def build_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """Word-level tokenizer whose vocabulary is ``SPECIAL_TOKENS`` followed by the words of ``texts``.

    ``<unk>`` has id 0 as in LLaMA, ``<s>`` starts every encoded text as LLaMA's tokenizer does, and ``<image>`` is
    registered as the processor's image token.
    """
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in words(texts):
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = _PRE_TOKENIZER
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
