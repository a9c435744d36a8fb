"""Loading never runs code from a checkpoint: pickled weights are refused and remote code stays off unless a model
entry sets trust_remote_code."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lvlm_debias.models.load import load_entry, load_model, resolve_dtype


class _Planted:
    """Unpickling this writes a marker file: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _checkpoint(tmp_path, tiny_llava):
    model, processor = tiny_llava
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_pickled_weights_are_never_loaded(tmp_path, tiny_llava):
    """Checked to fail without the protection: with use_safetensors=False transformers goes on to unpickle the .bin
    file (torch's weights-only unpickler then refuses this one, so no marker, but a different error: the test fails)."""
    folder = _checkpoint(tmp_path, tiny_llava)
    weights = folder / "model.safetensors"
    state = load_file(weights)
    marker = tmp_path / "unpickled"
    torch.save({"state": state, "planted": _Planted(str(marker))}, folder / "pytorch_model.bin")
    weights.unlink()
    with pytest.raises(OSError, match="safetensors|model.safetensors"):
        load_model(str(folder), device="cpu")
    assert not marker.exists()


def test_remote_code_stays_off_unless_the_entry_sets_it(tmp_path, tiny_llava):
    folder = _checkpoint(tmp_path, tiny_llava)
    marker = tmp_path / "remote_code_ran"
    (folder / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageTextToText": "planted.Model", "AutoConfig": "planted.Config"}
    (folder / "config.json").write_text(json.dumps(config))
    model, _ = load_entry(str(folder), {"device": "cpu"})
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017 - the planted module defines no classes; importing it is the point
        load_entry(str(folder), {"device": "cpu", "trust_remote_code": True})
    assert marker.exists()  # the same checkpoint runs its code once an entry opts in: the test can fail


@pytest.mark.parametrize(
    "dtype, device, expected",
    [
        ("auto", "cuda", torch.float16),
        ("bfloat16", "cuda", torch.bfloat16),
        ("float32", "cuda", torch.float32),
        ("auto", "cpu", torch.float32),
        ("float16", "cpu", torch.float32),  # the paper config's float16 entries still run on a CPU
        ("bfloat16", "cpu", torch.float32),
    ],
)
def test_half_precision_on_gpu_float32_on_cpu(dtype, device, expected):
    assert resolve_dtype(dtype, torch.device(device)) == expected


def test_an_unknown_dtype_is_named_on_any_device():
    for device in ("cpu", "cuda"):
        with pytest.raises(ValueError, match="dtype 'half' is not one of"):
            resolve_dtype("half", torch.device(device))
