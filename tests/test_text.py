"""The tokenizer speaks exactly the caption language; the text encoders give (B, L, dim) + mask."""
import sys

import pytest
import torch

from soralite.models.text import NULL, PAD, HFTextEncoder, TextEncoder, Tokenizer
from soralite.world import VOCABULARY, PromptError

PROMPTS = [
    "a red circle moving left",
    "a small blue square falling and a large green triangle standing still",
    "a yellow circle moving right, passing behind a gray wall",
    "a small purple triangle standing still and a large yellow square moving up "
    "and a small cyan circle bouncing, passing behind a gray wall",
]


def test_vocabulary_is_the_world_language_plus_specials():
    tok = Tokenizer()
    assert tok.vocab[:2] == [PAD, NULL] and (tok.pad_id, tok.null_id) == (0, 1)
    assert tok.vocab[2:] == list(VOCABULARY) and len(tok) == len(VOCABULARY) + 2
    for word in ("a", "and", ",", "small", "large", "cyan", "triangle", "bouncing", "falling",
                 "passing", "behind", "gray", "wall"):
        assert word in tok.ids


def test_round_trip_and_padding():
    tok = Tokenizer()
    ids, mask = tok.encode(PROMPTS, max_length=32)
    assert ids.shape == mask.shape == (len(PROMPTS), 32)
    assert ids.dtype == torch.long and mask.dtype == torch.bool
    assert tok.decode(ids, mask) == PROMPTS
    assert tok.decode(ids) == PROMPTS
    assert mask.sum(1).tolist() == [5, 12, 11, 25]
    assert (ids[~mask] == tok.pad_id).all()
    ids2, mask2 = tok.encode(PROMPTS)                         # pad to the longest prompt
    assert ids2.shape == (len(PROMPTS), 25)
    torch.testing.assert_close(ids2, ids[:, :25])


def test_comma_is_a_token_and_case_is_ignored():
    tok = Tokenizer()
    words = tok.tokenize("A Yellow circle moving right, passing behind a gray wall.")
    assert words[5] == "," and words[0] == "a" and words[-1] == "wall"


def test_null_prompt_is_one_null_token():
    tok = Tokenizer()
    ids, mask = tok.encode(["", "a red circle moving left"], max_length=8)
    assert ids[0].tolist() == [tok.null_id] + [tok.pad_id] * 7
    assert mask[0].tolist() == [True] + [False] * 7
    assert tok.decode(ids, mask)[0] == ""


def test_unknown_word_raises_the_parser_error():
    tok = Tokenizer()
    with pytest.raises(PromptError, match="pink") as e:
        tok.encode(["a pink circle moving left"])
    assert isinstance(e.value, ValueError)
    assert "red" in str(e.value) and "triangle" in str(e.value)   # lists the vocabulary
    with pytest.raises(PromptError, match="twice"):
        tok.encode("a red circle moving left and a red square falling")


def test_too_long_and_not_a_string():
    tok = Tokenizer()
    with pytest.raises(ValueError, match="max_length"):
        tok.encode(PROMPTS[1], max_length=4)
    with pytest.raises(ValueError, match="str"):
        tok.encode([3])


def test_text_encoder_shapes_and_padding_is_ignored():
    torch.manual_seed(0)
    tok = Tokenizer()
    enc = TextEncoder(len(tok), dim=32, depth=2, heads=4, max_length=32).eval()
    ids, mask = tok.encode(PROMPTS[:2] + [""], max_length=16)
    feats, m = enc(ids, mask)
    assert feats.shape == (3, 16, 32) and m is mask
    ids_long, mask_long = tok.encode(PROMPTS[:2] + [""], max_length=32)
    feats_long, _ = enc(ids_long, mask_long)
    # real tokens do not see the padding: more padding, same features
    torch.testing.assert_close(feats_long[:, :16][mask], feats[mask], atol=1e-5, rtol=1e-5)
    # and they do see each other: another prompt, other features for the shared first word
    assert not torch.allclose(feats[0, 0], feats[1, 0])
    with pytest.raises(ValueError, match="max_length"):
        enc(torch.zeros(1, 33, dtype=torch.long))


def test_hf_adapter_without_transformers_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)    # import transformers -> ImportError
    with pytest.raises(ImportError, match="pip install transformers"):
        HFTextEncoder("/nonexistent")


def test_hf_adapter_with_a_tiny_local_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *VOCABULARY]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertModel(config)
    model.save_pretrained(tmp_path / "enc")
    tokenizer.save_pretrained(tmp_path / "enc")
    for enc in (HFTextEncoder(tmp_path / "enc", max_length=16),
                HFTextEncoder(model, tokenizer=tokenizer, max_length=16)):
        assert enc.dim == 32
        feats, mask = enc(PROMPTS[:2])
        assert feats.shape == (2, 16, 32) and mask.shape == (2, 16) and mask.dtype == torch.bool
        assert mask.sum(1).tolist() == [5 + 2, 12 + 2]        # words plus [CLS], [SEP]
        assert not any(p.requires_grad for p in enc.parameters())
    with pytest.raises(ValueError, match="tokenizer"):
        HFTextEncoder(model)
