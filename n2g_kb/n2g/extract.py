"""The N2G pipeline, batched across neurons: examples in, one `NeuronResult` per neuron out.

For the neurons of one layer, `extract_neurons`:
  1. splits each neuron's top examples into train and test (fixed seed);
  2. prunes every training example (`n2g_kb.n2g.prune`);
  3. measures importances on every pruned prompt (`n2g_kb.n2g.saliency`);
  4. augments the pruned prompts around their important tokens (`n2g_kb.n2g.augment`) and
     measures importances on every variant;
  5. builds one `Trie` per neuron from the pruned prompts and their variants, with
     activations normalised by the neuron's max activation and rescaled by the pruning
     scale, as the reference does; variants inherit the original's important positions;
  6. scores the trie and the token-lookup and n-gram baselines on the test examples.
Every stage queues the work of all neurons of the batch and runs it through the model in
large length-sorted batches that stop after the target layer. With `neurons_per_batch=1`
the same code runs one neuron at a time.

A neuron whose max activation is <= 0 never fires: status "dead", no trie. A neuron
whose own processing raises gets status "failed" with the error text; the others carry on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from n2g_kb.n2g.augment import AugmentRequest, Augmenter, Variant, augment_prompts, load_augmenter
from n2g_kb.n2g.calibrate import add_backoff, calibrate
from n2g_kb.n2g.config import N2GConfig
from n2g_kb.n2g.firing import FiringPrompt, firing_prompts
from n2g_kb.errors import SelectionError
from n2g_kb.n2g.metrics import score_examples
from n2g_kb.lm.model import LoadedModel, batched_neuron_activations
from n2g_kb.n2g.prune import PruneRequest, Pruned, prune_examples
from n2g_kb.n2g.results import Example, ExtraExamples, NeuronResult
from n2g_kb.n2g.saliency import SaliencyRequest, saliency
from n2g_kb.n2g.trie import DEFAULT_SKIP_TOKENS, Trie, important_positions

Progress = Callable[[str, int, int], None]
RANDOM_PREFIX = "random_"
"""Prefix of the figures scored on the held-out random text (random_f1, ...); the same
as `n2g_kb.runners.evaluate.RANDOM_PREFIX`."""


def split_examples(examples: Sequence[Example], config: N2GConfig) -> tuple[list[Example], list[Example]]:
    """The first `n_examples` examples, split into (train, test).

    When any example already says split="test", the given splits are kept. Otherwise the
    examples are shuffled with `config.seed` (the same permutation for every neuron with
    the same number of examples) and the first `config.n_train(n)` become train; both
    parts keep the examples' original order.
    """
    chosen = list(examples[: config.n_examples])
    if any(e.split == "test" for e in chosen):
        return [e for e in chosen if e.split == "train"], [e for e in chosen if e.split == "test"]
    order = list(range(len(chosen)))
    random.Random(config.seed).shuffle(order)
    train_ids = set(order[: config.n_train(len(chosen))])
    train = [replace(e, split="train") for i, e in enumerate(chosen) if i in train_ids]
    test = [replace(e, split="test") for i, e in enumerate(chosen) if i not in train_ids]
    return train, test


def example_ids(model: LoadedModel, examples: Sequence[Example], config: N2GConfig) -> list[list[int]]:
    """Token ids of each example (its mined `ids` when present, else its re-tokenised text;
    leading BOS tokens dropped, BOS prepended per config), cut to `max_length` and the
    model's context."""
    bos_text = model.to_str_tokens([model.bos_token_id])[0]
    limit = min(config.max_length, model.n_ctx)
    out: list[list[int] | None] = []
    texts, missing = [], []
    for i, example in enumerate(examples):
        if example.ids is not None:  # exact ids from mining: no re-tokenisation
            ids = list(example.ids)
            while ids and ids[0] == model.bos_token_id:
                ids.pop(0)
            out.append(([model.bos_token_id] if config.prepend_bos else []) + ids)
            continue
        tokens = list(example.tokens)
        while tokens and tokens[0] == bos_text:
            tokens.pop(0)
        texts.append("".join(tokens))
        missing.append(i)
        out.append(None)
    for i, ids in zip(missing, model.to_tokens_batch(texts, prepend_bos=config.prepend_bos), strict=True):
        out[i] = ids
    return [ids[:limit] for ids in out if ids is not None]


@dataclass(eq=False)
class _Sample:
    """One training example of one neuron on its way through the stages."""

    job: _Job
    example: Example
    ids: list[int]
    pruned: Pruned | None = None
    base: np.ndarray | None = None
    normalised: np.ndarray | None = None
    key: int = 0
    importances: np.ndarray | None = None
    variants: list[Variant] = field(default_factory=list)
    variant_importances: list[np.ndarray] = field(default_factory=list)
    saliency_request: SaliencyRequest | None = None
    augment_request: AugmentRequest | None = None
    variant_requests: list[SaliencyRequest] = field(default_factory=list)


@dataclass(eq=False)
class _Job:
    """One neuron."""

    result: NeuronResult
    train: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)
    samples: list[_Sample] = field(default_factory=list)
    extra_train: list[Example] = field(default_factory=list)  # n2g+: mined samples and negatives
    heldout: list[Example] = field(default_factory=list)  # random text, scored only
    prompts: list[FiringPrompt] = field(default_factory=list)  # n2g+: one per firing token
    prompt_importances: list[np.ndarray] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result.status == "ok"

    def fail(self, error: BaseException) -> None:
        self.result.status = "failed"
        self.result.error = f"{type(error).__name__}: {error}"
        self.samples = []


def extract_neurons(
    model: LoadedModel,
    layer: int,
    neurons: Sequence[int],
    examples: Mapping[int, Sequence[Example]],
    max_activations: Mapping[int, float],
    config: N2GConfig,
    augmenter: Augmenter | None = None,
    progress: Progress | None = None,
    *,
    neurons_per_batch: int | None = 128,
    extra: Mapping[int, ExtraExamples] | None = None,
) -> list[NeuronResult]:
    """Extract a trie for each of `neurons` of `layer`; results in the order of `neurons`.

    `examples[n]` are neuron n's top examples (tokens and raw activations, from mining);
    `max_activations[n]` its max activation over the mining corpus. `augmenter` proposes
    substitutes; when None, `config.augment_model` is loaded on the model's device, and
    when that is None too (or `n_substitutes` is 0) nothing is augmented.
    `progress(stage, done, total)` reports each stage; stage "neurons" counts finished
    neurons. `neurons_per_batch` caps how many neurons share the model batches (None: all
    at once); it bounds memory, since every stage holds all its sequences at once.
    `extra[n]` holds neuron n's mined samples, negatives and held-out random text: the
    first `config.sample_examples` samples and `config.negative_examples` negatives train
    (split "sample"); the held-out text (split "random") is only scored, under keys
    prefixed "random_".
    """
    model.check_layer(layer)
    if augmenter is None and config.augment_model is not None and config.n_substitutes > 0:
        augmenter = load_augmenter(config.augment_model, device=model.device, batch_size=config.mlm_batch_size)
    neurons = list(neurons)
    for neuron in neurons:
        if not 0 <= neuron < model.d_mlp:
            raise SelectionError(f"neuron {neuron} is out of range; layer {layer} has neurons 0-{model.d_mlp - 1}")
    size = len(neurons) if not neurons_per_batch else max(1, neurons_per_batch)
    results: list[NeuronResult] = []
    for offset in range(0, len(neurons), max(1, size)):
        chunk = neurons[offset : offset + size]
        jobs = [
            _new_job(model, layer, n, examples.get(n, ()), max_activations.get(n), config, (extra or {}).get(n))
            for n in chunk
        ]
        _run_stages(model, layer, jobs, config, augmenter, progress)
        results.extend(job.result for job in jobs)
        if progress:
            progress("neurons", len(results), len(neurons))
    return results


def _new_job(
    model: LoadedModel,
    layer: int,
    neuron: int,
    examples: Sequence[Example],
    max_activation: float | None,
    config: N2GConfig,
    extra: ExtraExamples | None = None,
) -> _Job:
    result = NeuronResult(
        model=model.name,
        layer=layer,
        index=neuron,
        max_activation=float(max_activation or 0.0),
        method=config.method,
        method_config=config.to_dict(),
    )
    job = _Job(result)
    if max_activation is None:
        result.status, result.error = "failed", "no max activation given for this neuron; mine the layer first"
        return job
    if max_activation <= 0:
        result.status = "dead"
        return job
    if not examples:
        result.status, result.error = "failed", "no examples given for this neuron; mine the layer first"
        return job
    try:
        job.train, job.test = split_examples(examples, config)
        if extra is not None:
            chosen = extra.samples[: config.sample_examples] + extra.negatives[: config.negative_examples]
            job.extra_train = [replace(e, split="sample") for e in chosen]
            job.heldout = [replace(e, split="random") for e in extra.heldout]
        result.examples = job.train + job.test + job.extra_train + job.heldout
        ids = example_ids(model, job.train, config)
        job.samples = [_Sample(job, example, seq) for example, seq in zip(job.train, ids)]
    except Exception as e:  # a malformed example fails this neuron only
        job.fail(e)
    return job


def _each(samples: Sequence[_Sample], step: Callable[[_Sample], None]) -> list[_Sample]:
    """Run `step` on every sample of a live neuron; a sample that raises fails its neuron
    only. Returns the samples whose neuron is still live."""
    for s in samples:
        if s.job.ok:
            try:
                step(s)
            except Exception as e:  # this neuron fails, the others carry on
                s.job.fail(e)
    return [s for s in samples if s.job.ok]


def _firing_rows(normalised: np.ndarray, key: int | None, threshold: float) -> int:
    """How many leading importance rows the trie (and the augmenter) will read."""
    firing = np.nonzero(normalised > threshold)[0]
    last = int(firing[-1]) if len(firing) else -1
    if key is not None:
        last = max(last, key)
    return last + 1


def _run_stages(
    model: LoadedModel,
    layer: int,
    jobs: list[_Job],
    config: N2GConfig,
    augmenter: Augmenter | None,
    progress: Progress | None,
) -> None:
    start = 1 if config.prepend_bos else 0
    batch = {"batch_tokens": config.batch_tokens, "max_batch_rows": config.max_batch_rows}
    mask_id = config.mask_token_id if config.mask_token_id is not None else model.mask_token_id
    bos_text = model.to_str_tokens([model.bos_token_id])[0]

    # 1. Prune every training example of every neuron.
    samples = [s for job in jobs if job.ok for s in job.samples]
    pruned = prune_examples(model, layer, [PruneRequest(s.job.result.index, s.ids) for s in samples], config, progress)
    for s, p in zip(samples, pruned):
        s.pruned = p
    for job in jobs:
        job.samples = [s for s in job.samples if s.pruned is not None]
    samples = [s for s in samples if s.pruned is not None and s.job.ok]

    # 2. Measure the pruned prompts, then their importances.
    bases = batched_neuron_activations(
        model, layer, [s.pruned.ids for s in samples], [s.job.result.index for s in samples], **batch
    )
    base_of = {id(s): base for s, base in zip(samples, bases)}

    def measured(s: _Sample) -> None:
        assert s.pruned is not None
        base = base_of[id(s)]
        s.base = base
        s.normalised = base * s.pruned.scale / s.job.result.max_activation
        s.key = start + int(np.argmax(base[start:]))
        rows = _firing_rows(s.normalised, s.key, config.activation_threshold)
        s.saliency_request = SaliencyRequest(s.job.result.index, s.pruned.ids, base, rows)

    samples = _each(samples, measured)
    prompt_requests = _firing_requests(model, layer, jobs, config) if config.all_firing else []
    matrices = saliency(
        model,
        layer,
        [s.saliency_request for s in samples] + [request for _, request in prompt_requests],
        mask_token_id=mask_id,
        skip_first=config.prepend_bos,
        progress=progress,
        **batch,
    )
    for s, matrix in zip(samples, matrices[: len(samples)]):
        s.importances = matrix
    for (job, _), matrix in zip(prompt_requests, matrices[len(samples) :]):
        job.prompt_importances.append(matrix)

    # 3. Augment around the tokens important for the key token, then measure the
    #    variants' importances.
    if augmenter is not None and config.n_substitutes > 0 and samples:
        def important_tokens(s: _Sample) -> None:
            assert s.pruned is not None and s.importances is not None and s.base is not None
            str_tokens = model.to_str_tokens(s.pruned.ids)
            important = [
                str_tokens[k]
                for k in range(start, s.key + 1)
                if s.importances[s.key, k] >= config.aug_importance_threshold and str_tokens[k] != bos_text
            ]
            s.augment_request = AugmentRequest(s.job.result.index, s.pruned.ids, s.base, s.key, important)

        samples = _each(samples, important_tokens)
        variants = augment_prompts(
            model,
            layer,
            augmenter,
            [s.augment_request for s in samples],
            n_substitutes=config.n_substitutes,
            min_prob=config.substitute_min_prob,
            keep_threshold=config.augment_keep_threshold,
            prepend_bos=config.prepend_bos,
            max_length=min(config.max_length, model.n_ctx),
            progress=progress,
            **batch,
        )
        found_of = {id(s): found for s, found in zip(samples, variants)}

        def variant_rows(s: _Sample) -> None:
            assert s.pruned is not None
            s.variants = found_of[id(s)]
            for v in s.variants:
                normalised = v.activations * s.pruned.scale / s.job.result.max_activation
                rows = _firing_rows(normalised, None, config.activation_threshold)
                s.variant_requests.append(SaliencyRequest(s.job.result.index, v.ids, v.activations, rows))

        samples = _each(samples, variant_rows)
        owners = [s for s in samples for _ in s.variant_requests]
        var_matrices = saliency(
            model,
            layer,
            [r for s in samples for r in s.variant_requests],
            mask_token_id=mask_id,
            skip_first=config.prepend_bos,
            progress=progress,
            stage="saliency-augmented",
            **batch,
        )
        for s, matrix in zip(owners, var_matrices):
            s.variant_importances.append(matrix)

    # 4. One trie per neuron, scored on its test examples.
    live_jobs = [job for job in jobs if job.ok]
    for done, job in enumerate(live_jobs, start=1):
        try:
            _finish(model, job, config)
        except Exception as e:  # this neuron fails, the others carry on
            job.fail(e)
        if progress:
            progress("trie", done, len(live_jobs))


def _firing_requests(
    model: LoadedModel, layer: int, jobs: Sequence[_Job], config: N2GConfig
) -> list[tuple[_Job, SaliencyRequest]]:
    """n2g+ (`all_firing`): a prompt per firing token of every live neuron's training
    windows (`n2g_kb.n2g.firing`), measured in one batched pass, as saliency requests."""
    start = 1 if config.prepend_bos else 0
    prefix = [model.bos_token_id] if config.prepend_bos else []
    owners: list[_Job] = []
    for job in jobs:
        if not job.ok:
            continue
        try:
            windows = job.train + job.extra_train
            ids = [seq[start:] for seq in example_ids(model, windows, config)]
            scale = 1.0 / job.result.max_activation
            normalised = [[a * scale for a in e.activations] for e in windows]
            # The paper pipeline already covers each top training example's key token.
            skip: list[int | None] = [int(np.argmax(e.activations)) if e.activations else None for e in job.train]
            skip += [None] * len(job.extra_train)
            job.prompts = firing_prompts(
                ids,
                normalised,
                skip,
                prefix=prefix,
                threshold=config.activation_threshold,
                context=config.firing_context,
                limit=config.firing_positions,
            )
        except Exception as e:  # a malformed example fails this neuron only
            job.fail(e)
            continue
        owners.extend([job] * len(job.prompts))
    batch = {"batch_tokens": config.batch_tokens, "max_batch_rows": config.max_batch_rows}
    prompts = [p for job in jobs if job.ok for p in job.prompts]
    bases = batched_neuron_activations(model, layer, [p.ids for p in prompts], [j.result.index for j in owners], **batch)
    return [
        (job, SaliencyRequest(job.result.index, p.ids, base, len(p.ids)))
        for job, p, base in zip(owners, prompts, bases, strict=True)
    ]


def _trie_options(config: N2GConfig) -> dict:
    """Keyword arguments of `Trie.add_sample` for this config: with `separators`, only the
    prepended BOS position is passed over, not every token with the BOS/EOS text."""
    options: dict = {
        "activation_threshold": config.activation_threshold,
        "importance_threshold": config.importance_threshold,
    }
    if config.separators:
        options.update(skip_tokens=(), skip_positions=(0,) if config.prepend_bos else ())
    return options


def _build_trie(model: LoadedModel, samples: Sequence[_Sample], config: N2GConfig) -> Trie:
    """The trie of one neuron from its processed samples (pruned prompts, then variants)."""
    trie = Trie()
    options = _trie_options(config)
    for s in samples:
        assert s.pruned is not None and s.normalised is not None and s.importances is not None
        trie.add_sample(model.to_str_tokens(s.pruned.ids), s.normalised.tolist(), s.importances, **options)
        if not s.variants:
            continue
        # The reference lets variants inherit the important positions of the original's
        # firing tokens (rows of non-firing tokens stay empty there).
        original = np.where((s.normalised > config.activation_threshold)[:, None], s.importances, 0.0)
        inherited = important_positions(original, importance_threshold=config.importance_threshold)
        for variant, matrix in zip(s.variants, s.variant_importances):
            normalised = variant.activations * s.pruned.scale / s.job.result.max_activation
            trie.add_sample(
                model.to_str_tokens(variant.ids),
                normalised.tolist(),
                matrix,
                inherited_important=inherited,
                **options,
            )
    return trie


def _add_prompts(model: LoadedModel, trie: Trie, job: _Job, config: N2GConfig) -> None:
    """n2g+ (`all_firing`): each firing prompt's last token, with its context, into the trie."""
    for prompt, matrix in zip(job.prompts, job.prompt_importances, strict=True):
        activations = [0.0] * (len(prompt.ids) - 1) + [prompt.activation]
        trie.add_sample(model.to_str_tokens(prompt.ids), activations, matrix, **_trie_options(config))


def _finish(model: LoadedModel, job: _Job, config: N2GConfig) -> None:
    trie = _build_trie(model, job.samples, config)
    if config.all_firing:
        _add_prompts(model, trie, job, config)
    trie.merge_ignores()
    training = job.train + job.extra_train
    tokens = [e.tokens for e in training]
    scale = 1.0 / job.result.max_activation
    acts = [[a * scale for a in e.activations] for e in training]
    if config.backoff:
        skip = () if config.separators else DEFAULT_SKIP_TOKENS
        add_backoff(
            trie,
            tokens,
            acts,
            activation_threshold=config.activation_threshold,
            skip_tokens=skip,
            prior_token=config.backoff_prior_token,
        )
    if config.calibrate:
        calibrate(
            trie,
            tokens,
            acts,
            fire_threshold=config.fire_threshold,
            min_precision=config.calibrate_min_precision,
            prior=config.calibrate_prior,
        )
    metrics = score_examples(
        trie,
        job.train,
        job.test,
        job.result.max_activation,
        threshold=config.fire_threshold,
        ngram_context=config.ngram_context,
    )
    if job.heldout:
        heldout = score_examples(
            trie,
            job.train,
            job.heldout,
            job.result.max_activation,
            threshold=config.fire_threshold,
            ngram_context=config.ngram_context,
        )
        metrics.update({RANDOM_PREFIX + k: v for k, v in heldout.items()})
    metrics["n_pruned_prompts"] = float(len(job.samples))
    if config.all_firing:
        metrics["n_firing_prompts"] = float(len(job.prompts))
    metrics["n_variants"] = float(sum(len(s.variants) for s in job.samples))
    rows, firing, context = trie.to_rows(), trie.firing_tokens(), trie.context_tokens()
    job.result.trie_nodes, job.result.firing_tokens, job.result.context_tokens = rows, firing, context
    job.result.metrics = metrics
