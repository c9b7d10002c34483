"""Text: the caption language as token ids, and the small transformer that encodes them (notebook 05).

The toy world speaks a closed language (docs/world.md, "Captions"), so a word-level tokenizer is exact:
one id per word of the vocabulary it is given (by default `soralite.language.VOCABULARY`; the comma
is a word), after two special tokens,
`<pad>` (fills a short prompt up to the batch length; the mask hides it) and `<null>` (the empty
prompt "" that classifier-free guidance trains and samples with). Prompts are checked by the
world's parser, so an unknown word raises its `PromptError` naming the word and the vocabulary.

`TextEncoder` is a small transformer encoder trained together with the denoiser, as the Sora
report's text encoder would be at this scale. `HFTextEncoder` wraps a pretrained Hugging Face
encoder already on disk (a frozen T5 or CLIP text model), for readers who want to try one.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from soralite.language import DESCRIPTIVE_WORDS, VOCABULARY, parse_caption

PAD, NULL = "<pad>", "<null>"
SPECIAL_TOKENS = (PAD, NULL)
WORD_PATTERN = r"[a-z]+|,|\S"            # a word, a comma, or any other single character
POS_INIT_STD = 0.02                      # learned position embeddings start small (GPT-2, ViT)
MLP_RATIO = 4


class Tokenizer:
    """Word-level tokenizer of the caption language: `encode(prompts, max_length) -> (ids, mask)`.

    Ids: `<pad>` = 0, `<null>` = 1, then the words of `vocabulary` in order. The empty prompt ""
    is the single token `<null>`. With `validate`, every prompt goes through `parse_prompt` first.
    """

    def __init__(self, vocabulary: tuple[str, ...] = VOCABULARY, validate: bool = True):
        self.vocab: list[str] = [*SPECIAL_TOKENS, *vocabulary]
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id, self.null_id = self.ids[PAD], self.ids[NULL]
        self.validate = validate
        # a vocabulary with the descriptive words reads descriptive captions too (notebook 12)
        self.descriptive = all(w in self.ids for w in DESCRIPTIVE_WORDS)

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={len(self)})"

    def tokenize(self, prompt: str) -> list[str]:
        """A prompt's words (lower case, comma split off, "an" read as "a"); "" -> `["<null>"]`."""
        if not isinstance(prompt, str):
            raise ValueError(f"a prompt must be a str; got {type(prompt).__name__}")
        text = prompt.strip().lower().rstrip(".").strip()
        if not text:
            return [NULL]
        if self.validate:
            parse_caption(prompt, descriptive=self.descriptive)   # PromptError outside the language
        words = ["a" if w == "an" else w for w in re.findall(WORD_PATTERN, text)]
        unknown = [w for w in words if w not in self.ids or w in SPECIAL_TOKENS]
        if unknown:
            raise ValueError(f"unknown word {unknown[0]!r} in prompt {prompt!r}; the vocabulary is: "
                             f"{', '.join(self.vocab[len(SPECIAL_TOKENS):])}")
        return words

    def encode(self, prompts: str | list[str], max_length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> ids `LongTensor (B, L)` and mask `BoolTensor (B, L)` (True on real tokens).

        `L = max_length`, or the longest prompt's length when None; a longer prompt raises ValueError.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        words = [self.tokenize(p) for p in prompts]
        longest = max((len(w) for w in words), default=1)
        L = longest if max_length is None else max_length
        if longest > L:
            bad = next(p for p, w in zip(prompts, words) if len(w) > L)
            raise ValueError(f"prompt {bad!r} has {longest} tokens; max_length is {L}")
        ids = torch.full((len(prompts), L), self.pad_id, dtype=torch.long)   # (B, L)
        mask = torch.zeros(len(prompts), L, dtype=torch.bool)                 # (B, L)
        for i, w in enumerate(words):
            ids[i, :len(w)] = torch.tensor([self.ids[x] for x in w])
            mask[i, :len(w)] = True
        return ids, mask

    def decode(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> list[str]:
        """Ids `(B, L)` -> prompts; pads (or masked tokens) are dropped and `<null>` reads as ""."""
        ids = torch.as_tensor(ids).reshape(-1, torch.as_tensor(ids).shape[-1])   # (B, L)
        out = []
        for i, row in enumerate(ids.tolist()):
            keep = mask[i].tolist() if mask is not None else [x != self.pad_id for x in row]
            words = [self.vocab[x] for x, k in zip(row, keep) if k and x not in (self.pad_id, self.null_id)]
            out.append(" ".join(words).replace(" ,", ",").replace(" ;", ";"))
        return out


class TextEncoder(nn.Module):
    """A small pre-norm transformer encoder: ids `(B, L)` + mask -> features `(B, L, dim)` + mask.

    Token embeddings plus learned positions, `depth` layers of self-attention that ignore padding
    (key padding mask), a final LayerNorm. Trained with the denoiser (notebooks 05 and 06).
    """

    def __init__(self, vocab_size: int, dim: int, depth: int, heads: int, max_length: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"text_dim {dim} must be divisible by text_heads {heads}")
        self.max_length = max_length
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.pos_embedding = nn.Parameter(torch.randn(max_length, dim) * POS_INIT_STD)   # (L_max, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, MLP_RATIO * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if ids.ndim != 2 or ids.shape[1] > self.max_length:
            raise ValueError(f"token ids must be (B, L) with L <= max_length={self.max_length}; "
                             f"got shape {tuple(ids.shape)}")
        if mask is None:
            mask = torch.ones_like(ids, dtype=torch.bool)                       # (B, L)
        mask = mask.to(torch.bool)                                            # (B, L)
        x = self.token_embedding(ids) + self.pos_embedding[: ids.shape[1]]    # (B, L, dim)
        x = self.layers(x, src_key_padding_mask=~mask)                        # (B, L, dim)
        return self.norm(x), mask                                             # (B, L, dim), (B, L)


class HFTextEncoder(nn.Module):
    """A frozen pretrained Hugging Face text encoder already on disk: prompts -> `(B, L, dim)` + mask.

    `path_or_model` is a local directory (loaded with `local_files_only=True`, nothing is downloaded)
    or a `transformers` model; with a model, pass its `tokenizer` too. `dim` is its hidden size, to
    use as `DiTConfig.text_dim`. Needs the optional `transformers` package.
    """

    def __init__(self, path_or_model, tokenizer=None, max_length: int = 32):
        super().__init__()
        try:
            import transformers
        except ImportError as e:
            raise ImportError("HFTextEncoder needs the optional 'transformers' package "
                              "(pip install transformers); the kit's own TextEncoder does not") from e
        if isinstance(path_or_model, nn.Module):
            if tokenizer is None:
                raise ValueError("HFTextEncoder given a model also needs its tokenizer (tokenizer=...)")
            model = path_or_model
        else:
            model = transformers.AutoModel.from_pretrained(path_or_model, local_files_only=True)
            tokenizer = tokenizer or transformers.AutoTokenizer.from_pretrained(path_or_model,
                                                                                local_files_only=True)
        if getattr(model.config, "is_encoder_decoder", False):   # T5 and the like: keep the encoder
            model = model.get_encoder()
        self.model, self.tokenizer, self.max_length = model.eval().requires_grad_(False), tokenizer, max_length
        self.dim = model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model

    @torch.no_grad()
    def forward(self, prompts: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        batch = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(next(self.model.parameters()).device)
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state, batch["attention_mask"].bool()          # (B, L, dim), (B, L)


__all__ = ["Tokenizer", "TextEncoder", "HFTextEncoder", "PAD", "NULL", "SPECIAL_TOKENS"]
