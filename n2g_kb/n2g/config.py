"""The settings of one N2G extraction run, with the paper's defaults.

`N2GConfig` is frozen and checked on construction; `to_dict()` is what a run stores as
provenance next to its graphs. Defaults follow Foote et al. (2023) and the reference
implementation; where the reference hard-codes a value, the field says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from n2g_kb.errors import ConfigError

PAPER = "paper"
IMPROVED = "n2g+"
METHODS = (PAPER, IMPROVED)
DEFAULT_METHOD = IMPROVED
"""What `n2gkb ingest` uses without --method: n2g+ beats the paper's method and both
baselines on held-out data in bench/quality.py (`--method paper` for the paper's)."""
"""Extraction methods: `paper` is Foote et al. (2023) as published; `n2g+` turns on every
improvement switch below (each can also be set on its own, to measure it alone)."""

IMPROVEMENTS = (
    "all_firing",
    "backoff",
    "backoff_prior_token",
    "calibrate",
    "separators",
    "sample_examples",
    "negative_examples",
)
"""The switches that make `n2g+` differ from `paper` (off / 0 in the paper method)."""


@dataclass(frozen=True)
class N2GConfig:
    """How to turn a neuron's top examples into a trie.

    Examples and split
        n_examples: top examples used per neuron (train + test).
        train_fraction: share of them used to build the trie; the rest are held out.
        seed: fixes the train/test shuffle (the same permutation for every neuron).
    Trie and evaluation
        activation_threshold: normalised activation above which a token seeds a pattern.
        importance_threshold: importance above which a context token becomes a trie node.
        fire_threshold: normalised activation at or above which a token counts as firing
            when scoring predictions.
        ngram_context: prior tokens the n-gram baseline conditions on.
    Pruning
        prune_threshold: a pruned prompt must keep at least this share of the key token's
            original activation (and the key token must stay the maximum).
        prune_max_context: longest prior context tried, in tokens including the key token
            (reference `cutoff` = 30).
        prune_step: prior-context lengths are tried in steps of this many tokens, plus the
            whole prior context (reference `skip_interval` = 5; 1 finds the exact shortest).
        post_context: tokens kept after the key token, within its sentence.
    Saliency
        aug_importance_threshold: importance for the key token at which a token is handed
            to the augmenter (reference `measure_importance` threshold = 0.8).
        mask_token_id: token used to mask a position; None uses the model's default
            (its pad token, else `<|endoftext|>`; see `LoadedModel.mask_token_id`).
    Augmentation
        augment_model: masked LM (HF name or local dir) proposing substitutes; None
            disables augmentation.
        n_substitutes: substitutes tried per masked word.
        substitute_min_prob: masked-LM probability floor for a substitute (reference 1e-5).
        augment_keep_threshold: a variant whose maximum activation keeps this share of the
            pruned prompt's maximum is a positive example, otherwise a negative one; both
            are added to the trie, as in the reference.
    Batching
        prepend_bos: every sequence the model sees starts with its BOS token, as in the
            reference (mined examples are assumed to come from BOS-prefixed windows).
        max_length: sequences are cut to this many tokens (BOS included).
        batch_tokens: padded-token budget of one model batch (rows x longest row).
        max_batch_rows: most rows in one model batch.
        mlm_batch_size: masked texts per masked-LM batch.
    Method (see `METHODS`; every switch is off in the paper method)
        method: the name stored with every graph this config builds ("paper" or "n2g+").
        all_firing: learn context for every firing token of every training window, not
            only the pruned key token: each gets a prompt of the `firing_context` tokens
            ending at it, measured by the same batched saliency (`n2g_kb.n2g.firing`);
            at most `firing_positions` prompts per neuron, highest activations first.
        backoff: every firing token seen in training also ends a context-free pattern
            (depth 1), so a token whose context patterns all miss still gets a prediction.
        backoff_prior_token: the back-off also learns, for every firing training position,
            the pattern (firing token, the token just before it), so where no saliency
            pattern matches, the previous token can still decide before the token alone.
        calibrate: after building, each pattern's value is set from the training split:
            the pattern predicts firing when at least `calibrate_min_precision` of the
            training positions it decides fire (value: their mean activation), else it
            predicts their mean activation (below the firing threshold).
        calibrate_min_precision: see `calibrate`.
        calibrate_prior: smooths each pattern's firing share towards its token's firing
            rate over all training positions, as if this many more positions were seen.
        separators: a document separator inside a window (the BOS/EOS text) is a token
            like any other, as firing token and as context; only the prepended BOS position
            is passed over (the paper passes over every token with that text).
        sample_examples: extra training windows per neuron, sampled by the mining pass
            across the activation range (`sample_bins` equal bins of the max activation,
            seeded); they train, they are never test data.
        sample_bins: bins of the quantile sampling.
        negative_examples: extra training windows per neuron drawn from the mining
            pass's random sample of text on which the neuron does not fire.
    """

    n_examples: int = 20
    train_fraction: float = 0.5
    seed: int = 0
    activation_threshold: float = 0.5
    importance_threshold: float = 0.75
    fire_threshold: float = 0.5
    ngram_context: int = 1
    prune_threshold: float = 0.5
    prune_max_context: int = 30
    prune_step: int = 5
    post_context: int = 5
    aug_importance_threshold: float = 0.8
    mask_token_id: int | None = None
    augment_model: str | None = "distilbert-base-uncased"
    n_substitutes: int = 5
    substitute_min_prob: float = 1e-5
    augment_keep_threshold: float = 0.5
    prepend_bos: bool = True
    max_length: int = 1024
    batch_tokens: int = 32768
    max_batch_rows: int = 1024
    mlm_batch_size: int = 64
    method: str = PAPER
    all_firing: bool = False
    firing_context: int = 8
    firing_positions: int = 48
    backoff: bool = False
    calibrate: bool = False
    calibrate_min_precision: float = 0.5
    calibrate_prior: float = 0.0
    separators: bool = False
    backoff_prior_token: bool = False
    sample_examples: int = 0
    sample_bins: int = 10
    negative_examples: int = 0

    @classmethod
    def for_method(cls, method: str, **settings: object) -> N2GConfig:
        """The config of `method` ("paper" or "n2g+"), with `settings` overriding fields."""
        if method not in METHODS:
            raise ConfigError(f"unknown N2G method {method!r}; use one of: {', '.join(METHODS)}")
        preset: dict[str, object] = {"method": method}
        if method == IMPROVED:
            preset.update(IMPROVED_SETTINGS)
        return cls(**{**preset, **settings})  # type: ignore[arg-type]

    def without(self, switch: str) -> N2GConfig:
        """This config with one improvement switch turned off (for ablations)."""
        if switch not in IMPROVEMENTS:
            raise ConfigError(f"unknown switch {switch!r}; use one of: {', '.join(IMPROVEMENTS)}")
        default = next(f.default for f in fields(self) if f.name == switch)
        return replace(self, **{switch: default})

    @property
    def mines_samples(self) -> bool:
        """Whether this method needs the mining pass's extra training windows."""
        return self.sample_examples > 0 or self.negative_examples > 0

    def __post_init__(self) -> None:
        self._require(self.method in METHODS, "method", f"use one of: {', '.join(METHODS)}")
        self._require(
            0.0 < self.calibrate_min_precision <= 1.0, "calibrate_min_precision", "use a fraction in (0, 1]"
        )
        self._require(self.firing_context >= 1, "firing_context", "use 1 or more tokens")
        self._require(self.firing_positions >= 0, "firing_positions", "use 0 or more prompts")
        self._require(self.sample_examples >= 0, "sample_examples", "use 0 or more windows")
        self._require(self.sample_bins >= 1, "sample_bins", "use 1 or more bins")
        self._require(self.negative_examples >= 0, "negative_examples", "use 0 or more windows")
        self._require(self.n_examples >= 2, "n_examples", "use at least 2 (one train, one test)")
        self._require(0.0 < self.train_fraction < 1.0, "train_fraction", "use a value strictly between 0 and 1")
        for name in ("activation_threshold", "fire_threshold", "prune_threshold", "augment_keep_threshold"):
            value = getattr(self, name)
            self._require(0.0 <= value <= 1.0, name, "use a fraction between 0 and 1")
        for name in ("importance_threshold", "aug_importance_threshold"):
            value = getattr(self, name)
            self._require(0.0 <= value <= 1.0, name, "use an importance between 0 and 1")
        self._require(self.ngram_context >= 0, "ngram_context", "use 0 or more tokens")
        self._require(self.prune_max_context >= 1, "prune_max_context", "use 1 or more tokens")
        self._require(self.prune_step >= 1, "prune_step", "use a step of 1 or more tokens")
        self._require(self.post_context >= 0, "post_context", "use 0 or more tokens")
        self._require(
            self.mask_token_id is None or self.mask_token_id >= 0, "mask_token_id", "use a token id >= 0 or None"
        )
        self._require(
            self.augment_model is None or bool(self.augment_model.strip()),
            "augment_model",
            "name a masked LM (HF name or local dir) or use None to disable augmentation",
        )
        self._require(self.n_substitutes >= 0, "n_substitutes", "use 0 or more substitutes")
        self._require(0.0 <= self.substitute_min_prob < 1.0, "substitute_min_prob", "use a probability in [0, 1)")
        self._require(self.max_length >= 8, "max_length", "use at least 8 tokens")
        self._require(
            self.batch_tokens >= self.max_length, "batch_tokens", "use a budget of at least max_length tokens"
        )
        self._require(self.max_batch_rows >= 1, "max_batch_rows", "use 1 or more rows")
        self._require(self.mlm_batch_size >= 1, "mlm_batch_size", "use 1 or more texts")

    def _require(self, ok: bool, name: str, advice: str) -> None:
        if not ok:
            raise ConfigError(f"N2G setting {name}={getattr(self, name)!r} is invalid; {advice}")

    def n_train(self, n_examples: int) -> int:
        """How many of a neuron's `n_examples` build the trie: the train fraction, rounded,
        keeping at least one example on each side when there are two or more."""
        if n_examples < 2:
            return n_examples
        return min(n_examples - 1, max(1, round(n_examples * self.train_fraction)))

    def to_dict(self) -> dict:
        return asdict(self)


IMPROVED_SETTINGS: dict[str, object] = {
    "all_firing": True,
    "backoff": True,
    "calibrate": True,
    "calibrate_min_precision": 0.3,
    "calibrate_prior": 1.0,
    "backoff_prior_token": True,
    "separators": True,
    "sample_examples": 10,
    "negative_examples": 10,
}
"""What `N2GConfig.for_method("n2g+")` turns on."""
