"""Patch n' Pack: a clip's output in a packed sequence equals its output alone, for every
attention layout and position embedding; nothing leaks between clips; the planner fits clips into
budgets first-fit and refuses a clip longer than the budget; a size mix packs and buckets."""
import pytest
import torch

from soralite.config import DiTConfig, get_config
from soralite.models.dit import DiT
from soralite.models.packing import PackPlan, packed_forward, plan_packing

C = 4
KINDS = [(a, p) for a in ("full", "factorized") for p in ("sincos", "rope")]
SIZES = [(4, 8, 8), (2, 4, 12), (1, 8, 4), (4, 4, 4)]          # latent (T, H, W), images included


def moved_dit(attention, pos_embed, seed=0, size_embed=False):
    """A small DiT moved off its zero init, so that every path carries signal."""
    torch.manual_seed(seed)
    model = DiT(DiTConfig(hidden_size=32, depth=2, num_heads=2, text_dim=16, attention=attention,
                          pos_embed=pos_embed, size_embed=size_embed), C).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    return model


def clips(seed=0, sizes=SIZES, L=6):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(C, *s, generator=g) for s in sizes]
    ts = [torch.rand((), generator=g) for _ in sizes]
    text = torch.randn(len(sizes), L, 16, generator=g)
    mask = torch.ones(len(sizes), L, dtype=torch.bool)
    mask[1, 2:] = False                                           # prompts of different lengths
    return xs, ts, text, mask


def alone(model, x, t, text, mask, given=None, given_mask=None):
    g = None if given is None else given[None]
    gm = None if given_mask is None else given_mask[None]
    return model(x[None], torch.as_tensor(t).reshape(-1), text[None], mask[None], g, gm)[0]


@pytest.mark.parametrize("attention,pos_embed", KINDS)
def test_packed_output_equals_each_clip_alone(attention, pos_embed):
    model = moved_dit(attention, pos_embed)
    xs, ts, text, mask = clips()
    with torch.no_grad():
        packed = packed_forward(model, xs, ts, text, mask)                 # all in one sequence
        for i, x in enumerate(xs):
            ref = alone(model, x, ts[i], text[i], mask[i])
            assert packed[i].shape == x.shape
            assert torch.allclose(packed[i], ref, atol=1e-5), \
                f"clip {i} {tuple(x.shape)}: packed differs by {(packed[i] - ref).abs().max():.2e}"


@pytest.mark.parametrize("pos_embed", ["sincos", "rope"])
def test_packed_equals_alone_with_each_clip_told_its_size(pos_embed):
    model = moved_dit("full", pos_embed, size_embed=True)
    xs, ts, text, mask = clips()
    with torch.no_grad():
        packed = packed_forward(model, xs, ts, text, mask)
        for i, x in enumerate(xs):
            ref = alone(model, x, ts[i], text[i], mask[i])
            assert torch.allclose(packed[i], ref, atol=1e-5), \
                f"clip {i} {tuple(x.shape)}: packed differs by {(packed[i] - ref).abs().max():.2e}"


@pytest.mark.parametrize("attention", ["full", "factorized"])
def test_changing_one_clip_leaves_its_neighbours_alone(attention):
    model = moved_dit(attention, "rope")
    xs, ts, text, mask = clips()
    with torch.no_grad():
        before = packed_forward(model, xs, ts, text, mask)
        xs2 = list(xs)
        xs2[0] = xs[0] + 5.0                                       # a loud change to clip 0 only
        text2 = text.clone()
        text2[0] = -text[0]                                        # and to its prompt
        after = packed_forward(model, xs2, ts, text2, mask)
    assert not torch.allclose(before[0], after[0], atol=1e-3)      # the changed clip does change
    for i in range(1, len(xs)):
        assert torch.allclose(before[i], after[i], atol=1e-6), f"clip {i} saw clip 0"


def test_padding_and_plans_do_not_change_outputs():
    model = moved_dit("full", "sincos")
    xs, ts, text, mask = clips()
    tokens = [x.shape[1] * (x.shape[2] // 2) * (x.shape[3] // 2) for x in xs]
    with torch.no_grad():
        one = packed_forward(model, xs, ts, text, mask)
        plan = plan_packing(tokens, budget=max(tokens))            # several sequences, padded
        assert len(plan.sequences) > 1 and plan.padding_share > 0
        many = packed_forward(model, xs, ts, text, mask, plan=plan)
    for a, b in zip(one, many):
        assert torch.allclose(a, b, atol=1e-5)


def test_per_frame_levels_and_given_frames_match_alone():
    model = moved_dit("factorized", "sincos")
    xs, _, text, mask = clips(sizes=[(4, 8, 8), (2, 4, 8)])
    ts = [torch.tensor([0.0, 0.5, 0.5, 0.9]), torch.tensor([0.3, 0.7])]
    given = [xs[0] * 0.5, None]
    given_mask = [torch.tensor([True, False, False, False]), None]
    with torch.no_grad():
        packed = packed_forward(model, xs, ts, text, mask, given=given, given_mask=given_mask)
        ref0 = model(xs[0][None], ts[0][None], text[:1], mask[:1], given[0][None], given_mask[0][None])[0]
        ref1 = model(xs[1][None], ts[1][None], text[1:], mask[1:])[0]
    assert torch.allclose(packed[0], ref0, atol=1e-5)
    assert torch.allclose(packed[1], ref1, atol=1e-5)


def test_plan_is_first_fit_longest_first_and_within_budget():
    plan = plan_packing([5, 3, 8, 2, 7], budget=10)
    assert plan.sequences == [[2, 3], [1, 4], [0]]                 # 8+2, 3+7, 5
    for seq in plan.sequences:
        assert sum(plan.tokens[i] for i in seq) <= 10
    assert sorted(i for s in plan.sequences for i in s) == list(range(5))
    assert plan.padding_share == pytest.approx(1 - 25 / 30)


def test_a_clip_longer_than_the_budget_is_named():
    with pytest.raises(ValueError, match="budget 6 is smaller than a clip of 9 tokens"):
        plan_packing([4, 9], budget=6)


def test_packed_forward_checks_prompts_and_levels():
    model = moved_dit("full", "sincos")
    xs, ts, text, mask = clips()
    with pytest.raises(ValueError, match="4 clips need 4 prompts"):
        packed_forward(model, xs, ts, text[:2], mask[:2])
    with pytest.raises(ValueError, match="needs 1 or 4 levels"):
        packed_forward(model, xs[:1], [torch.rand(3)], text[:1], mask[:1])


def test_bad_size_mix_is_refused_with_what_is_allowed():
    cfg = get_config("smoke")
    with pytest.raises(ValueError, match="train.sizes"):
        get_config("smoke", ["train.sizes=16x30x32:1"])           # 30 is not a multiple of 8
    with pytest.raises(ValueError, match="train.batching"):
        get_config("smoke", ["train.batching=stack"])
    assert cfg.train.batching in ("bucket", "pack")


def test_plan_object_reports_no_padding_for_one_exact_sequence():
    plan = PackPlan([[0, 1]], [3, 5], 8)
    assert plan.padding_share == 0.0
