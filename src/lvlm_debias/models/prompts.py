"""Prompt templates: the text around a question that a model was trained with."""

from __future__ import annotations

IMAGE_PLACEHOLDER = "<image>"

#: llava-hf checkpoints (and the embedded ShapesWorld model) use this conversation format.
LLAVA_HF = "USER: <image>\n{question} ASSISTANT:"

#: LLaVA-1.5 ``llava_v1`` conversation mode with the paper's one-word instruction (POPE, calibration runs).
LLAVA_V1_ONE_WORD = (
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: <image>\n{question} Please answer this "
    "question with one word. ASSISTANT:"
)


def build_prompt(template: str, question: str) -> str:
    """Fill ``template`` with ``question``; the template must hold one ``{question}`` and one image placeholder."""
    if "{question}" not in template:
        raise ValueError(f"prompt template {template!r} has no '{{question}}' field")
    if template.count(IMAGE_PLACEHOLDER) != 1:
        raise ValueError(f"prompt template {template!r} must hold exactly one {IMAGE_PLACEHOLDER!r}")
    return template.replace("{question}", question)


def without_image(prompt: str) -> str:
    """The prompt as the language model sees it with the image placeholder removed (the None input, as text)."""
    return prompt.replace(IMAGE_PLACEHOLDER, "")


def without_image_line(prompt: str) -> str:
    """The prompt as the official code builds its None reference: the ``<image>\\n`` text removed, the newline with the
    placeholder (LLaVA-Align prefixes the question with ``<image>\\n`` only when an image is given); a placeholder not
    followed by a newline is removed alone."""
    return prompt.replace(IMAGE_PLACEHOLDER + "\n", "").replace(IMAGE_PLACEHOLDER, "")
