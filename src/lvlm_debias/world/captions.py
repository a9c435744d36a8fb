"""Open-ended captioning questions: one "Describe the image." per evaluation image, with the image's ground-truth
objects (what CHAIR checks mentions against) and a reference caption as the label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lvlm_debias.data.jsonl import require_fields
from lvlm_debias.data.pope import object_name

#: the open-ended instruction; its answer lists the objects from left to right (LLaVA's alignment stage captions).
CAPTION_PROMPT = "Describe the image."


def caption(scene: Mapping) -> str:
    """The scene's objects from left to right: "A red circle, a blue star and a green square." """
    objects = sorted(scene["objects"], key=lambda o: (o["x"], o["y"]))
    phrases = [f"a {o['colour']} {o['shape']}" for o in objects]
    if not phrases:
        return "Nothing."
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return text[0].upper() + text[1:] + "."


def caption_questions(
    annotations: Sequence[Mapping], n_images: int | None = None, prompt: str = CAPTION_PROMPT
) -> list[dict]:
    """One record per evaluation image (``split`` "eval", or every record when none has a split), the first
    ``n_images`` of them: ``question_id``, ``image``, ``text`` (``prompt``), ``label`` (the reference caption, objects
    left to right), ``objects`` (the distinct ground-truth object names, sorted) and ``subset`` "captions"."""
    has_split = any("split" in r for r in annotations)
    scenes = [r for r in annotations if not has_split or r.get("split") == "eval"]
    if n_images is not None:
        if n_images > len(scenes):
            raise ValueError(f"generation.n_images is {n_images} but the annotations hold {len(scenes)} eval images")
        scenes = scenes[:n_images]
    out = []
    for i, scene in enumerate(scenes):
        require_fields(scene, ("image", "objects"), "annotations", i)
        names = sorted({object_name(o, i) for o in scene["objects"]})
        label = (
            caption(scene) if all("shape" in o and "colour" in o for o in scene["objects"]) else scene.get("caption")
        )
        out.append(
            {
                "question_id": i,
                "image": scene["image"],
                "text": prompt,
                "label": label or ", ".join(names),
                "objects": names,
                "subset": "captions",
            }
        )
    return out
