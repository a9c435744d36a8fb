"""OPERA (decoding.opera): the over-trust score, the penalty, the rollback rule and one beam-search step by hand; on
the tiny LLaVA the candidates' attention against full forwards, the first step's penalty, the rebuilt cache, a
forced rollback, transformers' own beam search with the penalty off, and batching."""

import math

import pytest
import torch
from test_probes import _image

from lvlm_debias.decoding import opera
from lvlm_debias.decoding.base import DecodingParameters, OperaParameters
from lvlm_debias.decoding.decode import generate_texts, setting_methods
from lvlm_debias.decoding.opera import (
    Beams,
    _Passes,
    eager_attention,
    end_tokens,
    opera_search,
    over_trust_penalty,
    over_trust_scores,
    rollback_position,
    select,
)
from lvlm_debias.decoding.sampling import DecodingConfig
from lvlm_debias.inputs.probes import image_token_id, probe_inputs
from lvlm_debias.models.prompts import LLAVA_HF, build_prompt

PROMPTS = [build_prompt(LLAVA_HF, q) for q in ("Describe the image.", "Is there a red star in the image?")]


def test_over_trust_scores_by_hand():
    window = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    # column 0: 1e-7 * (10 * 1)(10 * 0.5)(10 * 0.2) = 1e-5; column 1: 1e-7 * 5 * 3; column 2: 1e-7 * 5
    expected = torch.tensor([1e-5, 1.5e-6, 5e-7]).to(torch.float16)
    assert torch.equal(over_trust_scores(window, 10.0), expected)
    # stored in float16 as the official code does: tiny products are 0, huge ones inf
    assert over_trust_scores(torch.full((1, 1), 0.01), 1.0).item() == 0.0
    assert math.isinf(over_trust_scores(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), 1e6)[0].item())


def test_penalty_is_minus_the_image_share_for_ten_tokens_then_the_largest_column_product():
    share = torch.tensor([[0.3, 0.7]])
    ten = torch.eye(10).expand(1, 2, 10, 10)
    penalty, where = over_trust_penalty(ten, share, 50.0)
    assert torch.equal(penalty, -share)
    eleven = torch.eye(11).expand(1, 2, 11, 11).clone()
    eleven[0, 1, 4:, 3] = 0.5  # the second candidate's response keeps attending to token 3
    penalty, where = over_trust_penalty(eleven, share, 50.0)
    # eye: only the last column has no zero below it, 1e-7 * 50; token 3: 1e-7 * 50 * 25 ** 7
    assert where.tolist() == [[10, 3]]
    assert penalty[0, 0].item() == torch.tensor(5e-6).half().item()  # float16, as stored
    assert penalty[0, 1].item() == torch.tensor(1e-7 * 50 * 25**7).half().item()  # 30517, about 30512 in float16


def test_rollback_rule():
    history = torch.full((2, 20), 12)
    times: dict[int, int] = {}
    assert rollback_position(history, 12, 21, times, threshold=15, candidates=5) == 13
    assert times == {13: 1}
    assert rollback_position(history, 12, 21, times, threshold=20, candidates=5) is None  # 20 entries, not > 20
    assert rollback_position(torch.full((2, 20), 9), 9, 21, {}, threshold=15, candidates=5) is None  # < 10
    mixed = history.clone()
    mixed[1, :10] = 14
    assert rollback_position(mixed, 12, 21, {}, threshold=15, candidates=5) is None  # one beam only 10 times
    assert rollback_position(history, 12, 21, {13: 5}, threshold=15, candidates=5) == 12  # 13 used up: one before
    assert rollback_position(history, 12, 21, {13: 5, 12: 5}, threshold=15, candidates=5) is None
    assert rollback_position(torch.full((1, 40), 20), 20, 600, {}, threshold=15, candidates=5) == 600 - 513


def test_one_beam_search_step_by_hand():
    beams = Beams.start(2)
    first = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    beams, source, tokens, over = select(beams, first, eos=[2], max_new_tokens=5)
    # beam 1 starts at -1e9; token 2 (the end) ranks third of 4 kept, not among the best 2: nothing finishes
    assert beams.sequences.tolist() == [[0], [1]] and source.tolist() == [0, 0] and tokens.tolist() == [0, 1]
    assert beams.scores.tolist() == pytest.approx([math.log(0.6), math.log(0.3)])
    assert not beams.done_real.any() and not over
    second = torch.log(torch.tensor([[0.15, 0.05, 0.8], [0.5, 0.4, 0.1]]))
    beams, source, tokens, over = select(beams, second, eos=[2], max_new_tokens=5)
    # [0, 2] ends best (0.6 * 0.8): finished, scored over its 2 tokens; [1, 0] and [1, 1] run on
    assert beams.done[0].tolist() == [0, 2] and beams.done_real.tolist() == [True, False]
    assert beams.done_scores[0].item() == pytest.approx(math.log(0.48) / 2)
    assert beams.sequences.tolist() == [[1, 0], [1, 1]] and source.tolist() == [1, 1] and not over
    beams, _, _, over = select(beams, second, eos=[2], max_new_tokens=3)
    assert over and beams.done_real.all()  # the length limit finishes the best two
    assert beams.best().tolist() == [0, 2]  # log(0.48) / 2 beats log(0.3 * 0.5 * 0.5) / 3


def _inputs(processor, prompts, images):
    return probe_inputs(processor, prompts, "naive", images)


def _full_row(model, processor, prompt, image, token):
    """The last layer's attention, max over heads and normalised, of ``token`` put after the prompt: one forward."""
    inputs = _inputs(processor, [prompt], [image])
    ids = torch.cat([inputs["input_ids"], torch.tensor([[token]])], dim=1)
    mask = torch.ones_like(ids)
    out = model(input_ids=ids, attention_mask=mask, pixel_values=inputs["pixel_values"], output_attentions=True)
    row = out.attentions[-1][0, :, -1].amax(dim=0)
    return row / row.sum()


def test_candidate_rows_equal_full_forwards_with_left_padding(tiny_llava):
    model, processor = tiny_llava
    images = [_image(0), _image(1)]
    inputs = _inputs(processor, PROMPTS, images)
    pads = (inputs["attention_mask"] == 0).sum(dim=1).tolist()
    assert pads[0] > 0  # the shorter prompt is padded
    with eager_attention(model), torch.inference_mode():
        passes = _Passes(model, inputs, beams=2, keep_prompt=False)
        logits = passes.restart(torch.zeros((4, 0), dtype=torch.long))
        candidates = logits.topk(3, dim=-1).indices
        rows = passes.candidate_rows(candidates)
        for r in range(4):
            for k in range(3):
                b = r // 2
                want = _full_row(model, processor, PROMPTS[b], images[b], int(candidates[r, k]))
                torch.testing.assert_close(rows[r, k, pads[b] :], want, atol=1e-5, rtol=1e-4)
        assert passes.cache.get_seq_length() == inputs["input_ids"].shape[1]  # the candidates were cropped off


def test_a_rebuilt_cache_gives_the_logits_of_token_by_token_feeding(tiny_llava):
    model, processor = tiny_llava
    inputs = _inputs(processor, PROMPTS, [_image(0), _image(1)])
    tokens = torch.tensor([[5, 9], [7, 7], [11, 6], [6, 12]])
    with eager_attention(model), torch.inference_mode():
        passes = _Passes(model, inputs, beams=2, keep_prompt=True)
        passes.restart(torch.zeros((4, 0), dtype=torch.long))
        passes.feed(tokens[:, 0])
        stepwise = passes.feed(tokens[:, 1])[0]
        rebuilt = passes.restart(tokens)
    torch.testing.assert_close(rebuilt, stepwise, atol=1e-5, rtol=1e-4)


def test_the_first_step_penalty_picks_by_image_attention(tiny_llava):
    """One beam, one token, a penalty weight of 1000: the token is argmax over the top 4 of l_c + 1000 * image share,
    the share read from full forwards."""
    model, processor = tiny_llava
    prompt, image = PROMPTS[1], _image(3)
    inputs = _inputs(processor, [prompt], [image])
    image_mask = inputs["input_ids"] == image_token_id(processor)
    with eager_attention(model), torch.inference_mode():
        logits = model(**inputs).logits[0, -1]
        top, candidates = logits.topk(4)
        share = torch.stack(
            [_full_row(model, processor, prompt, image, int(c))[:-1][image_mask[0]].sum() for c in candidates]
        )
        parameters = OperaParameters(beams=1, candidates=4, penalty_weight=1000.0)
        ((generated, rollbacks),) = opera_search(model, inputs, image_mask, parameters, [10**6], 1)
    assert generated.tolist() == [int(candidates[(top + 1000 * share).argmax()])] and rollbacks == 0


def test_with_the_penalty_off_and_every_token_a_candidate_it_is_transformers_beam_search(tiny_llava):
    model, processor = tiny_llava
    images = [_image(i) for i in range(2)]
    vocab = model.config.text_config.vocab_size
    parameters = OperaParameters(beams=3, candidates=vocab, penalty_weight=0.0, threshold=10**6)
    inputs = _inputs(processor, PROMPTS, images)
    pad = processor.tokenizer.pad_token_id
    want = model.generate(**inputs, num_beams=3, do_sample=False, max_new_tokens=10, pad_token_id=pad)
    width = inputs["input_ids"].shape[1]
    with eager_attention(model):
        found = opera_search(model, inputs, inputs["input_ids"] == image_token_id(processor), parameters,
                             end_tokens(model, processor.tokenizer), 10, roll_back=False)  # fmt: skip
    for row, (generated, rollbacks) in enumerate(found):
        expected = [t for t in want[row, width:].tolist() if t != pad]
        assert generated.tolist() == expected and rollbacks == 0


def test_a_forced_rollback_restores_the_state_and_bans_the_earlier_choice(tiny_llava, monkeypatch):
    """The rule is forced to roll back to position 12 at response length 16: the next step searches from the
    12-token state, with the continuations chosen there before at the floor."""
    model, processor = tiny_llava
    inputs = _inputs(processor, PROMPTS[:1], [_image(5)])
    fired, steps = [], []
    real_select = opera.select

    def rule(history, location, response_length, times, **kwargs):
        if response_length == 16 and not fired:
            fired.append(True)
            return 12
        return None

    def recording(beams, log_probs, eos, max_new_tokens):
        steps.append((beams.sequences.clone(), log_probs.clone()))
        return real_select(beams, log_probs, eos, max_new_tokens)

    monkeypatch.setattr(opera, "rollback_position", rule)
    monkeypatch.setattr(opera, "select", recording)
    with eager_attention(model):
        ((generated, rollbacks),) = opera_search(model, inputs, inputs["input_ids"] == image_token_id(processor),
                                                 OperaParameters(beams=3), [10**6], 20)  # fmt: skip
    assert rollbacks == 1 and len(generated) == 20
    lengths = [s.shape[1] for s, _ in steps]
    assert lengths[:15] == list(range(15)) and lengths[15] == 12  # the step at 15 searches from the 12-token state
    sequences, redo = steps[15]
    assert torch.equal(sequences, steps[12][0])
    chosen_then = steps[13][0]  # the beams the step at position 12 chose before: (source, token) pairs now banned
    for beam in chosen_then:
        source = next(i for i, s in enumerate(sequences) if torch.equal(s, beam[:12]))
        assert redo[source, beam[12]].item() == pytest.approx(redo[source].min().item())
    # not restricted to the 5 candidates on the redo step: the whole vocabulary, shifted to a floor of -999
    assert ((redo[0] > redo[0].min() + 1e-3).sum() > 5).item()


def test_opera_through_generation_batching_and_the_attention_restored(tiny_llava):
    model, processor = tiny_llava
    n = 4
    prompts = [PROMPTS[i % 2] for i in range(n)]
    before = model.config._attn_implementation

    def texts(batch_size):
        return generate_texts(
            model, processor, prompts, [_image(i) for i in range(n)], [f"{i}.png" for i in range(n)], "opera",
            DecodingConfig(do_sample=False), DecodingParameters(1.0, 0.1, opera={"beams": 2}), max_new_tokens=6,
            batch_size=batch_size, seed=0,
        )  # fmt: skip

    assert texts(4) == texts(1)
    assert model.config._attn_implementation == before


def test_parameters_are_checked_and_named():
    assert DecodingParameters(1.0, 0.1).opera == OperaParameters()
    assert DecodingParameters.from_section({"alpha": 1.0, "beta": 0.1, "opera": {"beams": 3}}).opera.beams == 3
    with pytest.raises(ValueError, match=r"unknown opera parameters \['beam'\]"):
        DecodingParameters(1.0, 0.1, opera={"beam": 3})
    with pytest.raises(ValueError, match="opera.candidates must be an integer >= 1, got 0"):
        OperaParameters(candidates=0)
    with pytest.raises(ValueError, match="opera.scale_factor must be a finite number > 0, got 0"):
        OperaParameters(scale_factor=0)


def test_opera_is_decoded_at_the_first_setting_only():
    """Beam search does not sample: its rows at a second setting would repeat the first's."""
    assert setting_methods(["naive", "opera"], "default", ["default", "best"]) == ["naive", "opera"]
    assert setting_methods(["naive", "opera"], "best", ["default", "best"]) == ["naive"]
    assert setting_methods(["naive", "opera"], "best", ["best"]) == ["naive", "opera"]


def test_beam_search_is_opera_with_the_penalty_and_rollback_off(tiny_llava):
    """The ``beam`` null (transformers' beam search at OPERA's beams) gives OPERA's texts once OPERA's penalty is off
    and every token is a candidate, through generation; both are decoded at the first setting only."""
    model, processor = tiny_llava
    n, vocab = 4, model.config.text_config.vocab_size

    def texts(method, opera_parameters):
        return generate_texts(
            model, processor, [PROMPTS[i % 2] for i in range(n)], [_image(i) for i in range(n)],
            [f"{i}.png" for i in range(n)], method, DecodingConfig(do_sample=False),
            DecodingParameters(1.0, 0.1, opera=opera_parameters), max_new_tokens=8, batch_size=4, seed=0,
        )  # fmt: skip

    off = {"beams": 3, "candidates": vocab, "penalty_weight": 0.0, "threshold": 10**6}
    assert texts("beam", off) == texts("opera", off)
    assert texts("beam", off) != texts("naive", off)  # beam search is not greedy decoding here
    assert setting_methods(["beam", "opera", "vcd"], "best", ["default", "best"]) == ["vcd"]
