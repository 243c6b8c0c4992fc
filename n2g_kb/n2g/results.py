"""Plain data that flows from extraction to the store and back.

These types are the contract between the pure extraction core (`n2g_kb.n2g.extract`), the
store (`n2g_kb.kb.store`) and evaluation. They hold only Python scalars and lists, so they
serialise to JSON and to Neo4j properties without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Split = Literal["train", "test", "sample", "random"]
"""train / test: the neuron's top examples, split as the paper does (baselines fit on train);
sample: extra training windows mined across the activation range and non-firing text
(n2g+ trains on them too); random: held-out random text, set aside by the mining pass and
used only to score."""
NeuronStatus = Literal["ok", "dead", "failed"]
UnitKind = Literal["neuron", "sae_latent", "transcoder"]
UNIT_KINDS: tuple[str, ...] = ("neuron", "sae_latent", "transcoder")


@dataclass
class Example:
    """One dataset example of one neuron: its tokens and the neuron's activation on each.

    `tokens` are the model's token strings exactly as decoded (GPT-2 byte-level text such
    as " Paris"), `activations` are raw (not normalised) activations, one per token.
    `ids` are the token ids when known (from mining): extraction then reruns exactly these
    ids instead of re-tokenising the joined text, which can differ at byte-level splits.
    Examples read back from Neo4j carry no ids (evaluation needs only the strings).
    """

    tokens: list[str]
    activations: list[float]
    split: Split = "train"
    ids: list[int] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.activations):
            raise ValueError(
                f"example has {len(self.tokens)} tokens but {len(self.activations)} activations"
            )
        if self.ids is not None and len(self.ids) != len(self.tokens):
            raise ValueError(f"example has {len(self.tokens)} tokens but {len(self.ids)} token ids")


@dataclass
class ExtraExamples:
    """A neuron's windows beyond its top examples, from the mining pass: `samples` across
    the activation range and `negatives` (text it does not fire on) for training, and
    `heldout` random text for scoring only."""

    samples: list[Example] = field(default_factory=list)
    negatives: list[Example] = field(default_factory=list)
    heldout: list[Example] = field(default_factory=list)


@dataclass
class NeuronResult:
    """Everything extraction learned about one neuron.

    `trie_nodes` is the trie as rows (see `n2g_kb.n2g.trie.Trie.to_rows`): one dict per node with
    keys id, parent, kind ('root' | 'token' | 'ignore'), token, depth, activation,
    importance, end_activation. `firing_tokens` maps a normalised token to the highest
    normalised activation stored for it; `context_tokens` maps a normalised context token
    to its highest importance. `metrics` holds evaluation figures on the test examples
    (keys such as 'precision', 'recall', 'f1', 'nonfiring_f1', 'baseline_token_f1').
    `kind` says what the unit is: 'neuron' (an MLP neuron), 'sae_latent' (a sparse
    autoencoder latent) or 'transcoder' (a transcoder feature); `sae` names the SAE or
    transcoder for the latter two (None for neurons).
    """

    model: str
    layer: int
    index: int
    max_activation: float
    status: NeuronStatus = "ok"
    trie_nodes: list[dict] = field(default_factory=list)
    firing_tokens: dict[str, float] = field(default_factory=dict)
    context_tokens: dict[str, float] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    kind: UnitKind = "neuron"
    sae: str | None = None
    method: str = "paper"
    method_config: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.model, self.layer, self.index)
