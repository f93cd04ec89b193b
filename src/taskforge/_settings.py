"""Typed settings: one pydantic model per stage, and :class:`RunSettings` holding them all.

Every model forbids unknown keys, so a typo in a task's ``defaults``, a ``--config`` file or
a keyword argument fails at once, naming the key and the allowed ones. The one precedence
rule lives here (:func:`merge_layers`): built-in defaults < task ``defaults`` < config file <
flags; a ``None`` value in a layer means "not given". Adding a setting is one line in its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from typing_extensions import Self

from taskforge._errors import SettingsError

STAGES = ("retrieve", "transform", "filter", "export", "train", "eval")
EXPORT_FORMATS = ("jsonl", "parquet", "hf", "chat")

Layer = Mapping[str, Any] | BaseModel | None


def check_base_url(url: Any) -> Any:
    """``url`` (or each of a list) when it names a server (http(s)://host[:port]/...); else a
    ValueError saying how to write it.

    A URL without a host ("localhost:8000/v1") would otherwise be retried as a connection
    error until the retries run out; it is a typo, so it fails before any request.
    """
    if url is None:
        return None
    if isinstance(url, (list, tuple)):
        for one in url:
            check_base_url(one)
        return url
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"base URL {url!r} has no http(s) scheme and host; write it like http://localhost:8000/v1"
        )
    return url


class StageSettings(BaseModel):
    """Base of every settings model: unknown keys are errors; assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    section: ClassVar[str] = ""

    @classmethod
    def build(cls, *layers: Layer, origin: str = "") -> Self:
        """Merge ``layers`` (later wins, ``None`` values skipped) and validate; errors are SettingsError."""
        return cls.validated(merge_layers(*layers), origin=origin)

    @classmethod
    def validated(cls, data: Mapping[str, Any], *, origin: str = "") -> Self:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as e:
            raise SettingsError(describe_errors(e, cls, origin)) from None

    @classmethod
    def for_task(cls, task: Any, *layers: Layer) -> Self:
        """The task's ``defaults`` for this stage, then ``layers`` (config, flags)."""
        defaults = task.stage_defaults(cls.section) if task is not None else {}
        check_keys(cls, defaults, origin="task defaults")
        return cls.build(defaults, *layers)


def merge_layers(*layers: Layer) -> dict[str, Any]:
    """The one precedence rule: later layers win; a ``None`` value is "not given"."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        data = layer.model_dump(exclude_unset=True) if isinstance(layer, BaseModel) else layer
        merged.update({k: v for k, v in data.items() if v is not None})
    return merged


def check_keys(model: type[BaseModel], data: Mapping[str, Any], *, origin: str) -> None:
    """Fail on an unknown key in ``data`` before merging, so the error names where the typo is."""
    section = getattr(model, "section", "")
    unknown = sorted(set(data) - set(model.model_fields))
    if unknown:
        where = f"{section}." if section else ""
        raise SettingsError(
            f"{origin}: unknown setting {', '.join(where + k for k in unknown)}; "
            f"allowed {section or 'keys'}: {', '.join(model.model_fields)}"
        )


def describe_errors(err: ValidationError, model: type[BaseModel], origin: str = "") -> str:
    """One line per problem: ``origin: section.key: what is wrong`` (unknown keys list the allowed ones)."""
    section = getattr(model, "section", "")
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in (section, *e["loc"]) if p != "")
        if e["type"] == "extra_forbidden":
            msg = f"unknown setting; allowed {section or 'keys'}: {', '.join(model.model_fields)}"
        else:
            msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    head = f"{origin}: " if origin else ""
    return head + ("; ".join(lines) if len(lines) > 1 else lines[0])


# ---- stage models --------------------------------------------------------------------------------
class BuildSettings(StageSettings):
    """``datastore build``: how sources are read, embedded and stored."""

    section: ClassVar[str] = "build"

    kind: Literal["rows", "documents"] = "rows"
    model: str | None = None  # sentence-transformers name or path; None: bundled all-MiniLM-L6-v2
    description: str | None = None  # for every source given in this call
    strict: bool = False  # stop at the first malformed row
    max_rows: int | None = Field(default=None, ge=1)
    # which rows --max-rows keeps: a source's first ones, or ones spread evenly over it (a file
    # sorted by label keeps every label; one more read of the source; hub sources: first ones)
    sample: Literal["head", "spread"] = "head"
    ann: bool = False  # also build an IVF-SQ8 index
    float16: bool = False
    chunk_rows: int | None = Field(default=None, ge=1)  # None: TASKFORGE_CHUNK_ROWS or 512
    batch_size: int = Field(default=64, ge=1)
    text_unit: Literal["line", "file"] = "line"
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    backend: Literal["auto", "torch", "onnx"] = "auto"  # auto: torch (onnx int8: opt in, faster)
    executor: Literal["local", "ray"] = "local"  # ray: one Ray task per source (taskforge[ray])
    address: str | None = None  # Ray cluster to join (None: a local Ray instance)
    # None: UTF-8, rows that are not valid UTF-8 are counted as malformed; "auto": detect per file
    encoding: str | None = None
    max_row_mb: float = Field(default=64.0, gt=0)  # longer rows are skipped and counted
    wait: bool = True  # another build writing to the same folder: wait for it (False: stop, exit 1)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value not in (None, "auto"):
            import codecs

            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, latin-1, cp1252, auto)") from None
        return value

    # documents: the column(s) holding each document's text, first present wins; rows with none skipped
    text_column: list[str] | None = None

    @field_validator("text_column", mode="before")
    @classmethod
    def _one_or_many_columns(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else (v or None)


class RetrieveSettings(StageSettings):
    """``retrieve``: how many items, scored how."""

    section: ClassVar[str] = "retrieve"

    n: int = Field(default=1000, ge=1)
    method: str = "rebase_parts"  # one of taskforge._retrieval.METHODS
    # run until this many samples pass every filter: rounds retrieve more of the same ranking
    # (n is the first round's size) within llm.max_cost / llm.max_calls; see taskforge._target
    target_samples: int | None = Field(default=None, ge=1)
    per_source_cap: int | None = Field(default=None, ge=1)
    index: Literal["exact", "ann"] = "exact"
    # ray: exact scoring of source shards as Ray tasks, merged exactly (taskforge[ray])
    executor: Literal["local", "ray"] = "local"
    address: str | None = None  # Ray cluster to join (None: a local Ray instance)
    # selection (None: the method's own, taskforge._retrieval.SELECTION): past this share of n a
    # source's rows compete with a handicap of share_margin top-n spreads (1 / inf: off / hard cap)
    max_source_share: float | None = Field(default=None, gt=0, le=1)
    share_margin: float | None = Field(default=None, ge=0)
    # per-label quotas (tasks with labels): share of n per label (0: off), from rows scoring at
    # least the n-th best minus label_reach spreads; labelled rows get label_bonus spreads after
    label_share: float | None = Field(default=None, ge=0, le=1)
    label_bonus: float | None = Field(default=None, ge=0)
    label_reach: float | None = Field(default=None, ge=0)
    label_depth: int = Field(default=10, ge=1)  # rows per source resolved: label_depth * n at most


class LLMSettings(StageSettings):
    """One LLM client: which model where, how many calls at once, limits, retries, prices, cache.

    ``spec`` is ``provider:MODEL`` (``openai:qwen2.5-7b``, ``anthropic:claude-3-5-haiku-latest``);
    ``None`` means no LLM (the transform stage then uses the mapper). ``cache``: the SQLite
    response cache (a run keeps it at ``RUN/llm_cache.sqlite``).
    """

    section: ClassVar[str] = "llm"

    spec: str | None = None
    base_url: str | list[str] | None = None  # several: replicas of one model, spread by measured capacity
    api_key_env: str | None = None
    max_in_flight: int = Field(default=32, ge=1)  # per server; each adapts below it (AIMD)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    prices: tuple[float, float] | dict[str, float] | None = None  # USD per million (input, output) tokens
    cache: Path | None = None
    # issue 17: structured outputs, batch APIs, adaptive limits, a budget, the local runtime
    structured: Literal["auto", "on", "off"] = (
        "auto"  # send the answer's JSON schema (auto: fall back if refused)
    )
    batch: bool = False  # OpenAI Batch / Anthropic Message Batches at the batch price
    batch_poll: float = Field(default=30.0, gt=0)  # seconds between polls of a running batch
    batch_discount: float = Field(default=0.5, ge=0, le=1)  # batch price / online price
    adaptive: bool = True  # per-server in-flight limits that back off on 429/5xx/timeouts/queueing
    max_cost: float | None = Field(default=None, ge=0)  # USD this client may spend; then calls stop
    max_calls: int | None = Field(default=None, ge=0)
    local_slots: int = Field(default=2, ge=1)  # local:MODEL: llama-server parallel slots (= in flight)
    local_threads: int = Field(default=1, ge=1)
    local_ctx: int = Field(default=4096, ge=256)  # context tokens per slot

    @field_validator("base_url")
    @classmethod
    def _url_with_host(cls, value: str | None) -> str | None:
        return check_base_url(value)


class TransformSettings(StageSettings):
    """How retrieved items become samples.

    ``method``: ``mapper`` maps rows onto the task's fields without an LLM (the papers'
    "retrieved data" baseline); ``llm`` rewrites each item with an LLM; ``auto`` is ``llm``
    when an LLM is given, else ``mapper``.
    ``style``: the built-in prompt, ``rebase`` (one retrieved row as JSON) or ``craft`` (worked
    examples as chat turns, then the document); ``auto`` picks ``craft`` for documents.
    ``template``: a Jinja2 file used instead of the built-in prompt (see ``_transform/_prompts``).
    ``context``: what a retrieved document shows the LLM: the ``passage`` that matched the task
    (retrieval names it; bounded length) or the whole ``document``.
    """

    section: ClassVar[str] = "transform"

    method: Literal["auto", "mapper", "llm"] = "auto"
    style: Literal["auto", "rebase", "craft"] = "auto"
    template: Path | None = None
    context: Literal["passage", "document"] = "passage"
    chain_of_thought: bool = False
    samples_per_item: int = Field(default=1, ge=1)
    n_examples: int | None = Field(
        default=None, ge=1, description="examples per prompt; craft 3, rebase all (<= 8)"
    )
    seed: int = 0
    repair: bool = True
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.9, gt=0, le=1)
    max_tokens: int = Field(default=1024, ge=1)
    limit: int | None = Field(default=None, ge=1, description="transform only the first N items")
    # mapper
    label_map: dict[str, str] = Field(default_factory=dict)
    label_names: dict[str, list[str]] = Field(
        default_factory=dict, description="source -> names of numeric labels (index = label id)"
    )
    sources_dir: Path | None = Field(
        default=None, description="where to find <source>/README.md class labels"
    )
    label_threshold: float = Field(default=0.8, ge=0, le=1)
    plan_rows: int = Field(default=16, ge=1, description="rows per source used to choose its columns")
    # files
    rejects: Path | None = None  # default: rejects.jsonl beside the samples
    # the stage fails (exit 1) when more than this share of LLM requests still fail after retries
    max_error_rate: float = Field(default=0.1, ge=0, le=1)

    def prompt_config(self) -> dict[str, Any]:
        """The settings that change prompts or answers (part of the resume key)."""
        keys = (
            "style",
            "context",
            "chain_of_thought",
            "n_examples",
            "seed",
            "repair",
            "temperature",
            "top_p",
            "max_tokens",
        )
        cfg = {k: getattr(self, k) for k in keys}
        if self.template is not None:
            cfg["template"] = Path(self.template).read_text(encoding="utf-8")
        return cfg


class FilterSettings(StageSettings):
    """Quality control: which steps run, their thresholds, the eval sets, the optional LLM judge."""

    section: ClassVar[str] = "filter"

    format: bool = True
    exact_dedup: bool = True
    near_dup: bool = True
    near_dup_threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    near_dup_num_perm: int = Field(default=128, ge=16)
    near_dup_shingle: int = Field(default=3, ge=1)
    fewshot: bool = True
    fewshot_threshold: float = Field(default=85.0, gt=0.0, le=100.0)
    ngram: int = Field(default=13, ge=1)
    decontaminate: bool = True  # False: only report the overlap rate per eval set
    eval_files: list[str] = Field(default_factory=list)
    judge: str | None = None  # "openai:MODEL" / "anthropic:MODEL"; its client shares the llm section's limits
    judge_base_url: str | None = None  # e.g. a local vLLM/Ollama server's /v1
    judge_api_key_env: str | None = None
    judge_on_error: Literal["drop", "keep"] = "drop"
    judge_max_tokens: int = Field(default=8, ge=1)  # raise it for models that think before answering
    max_per_label: int | None = Field(default=None, ge=1)
    workers: int = Field(default=2, ge=1)
    stats: bool = True  # also write stats.json (sizes, labels, diversity) of the kept samples

    @field_validator("judge_base_url")
    @classmethod
    def _judge_url_with_host(cls, value: str | None) -> str | None:
        return check_base_url(value)

    def judge_llm(self, base: LLMSettings | None = None) -> LLMSettings | None:
        """The judge's client settings: its own model, URL and key; the rest (limits, cache) from ``base``."""
        return judge_settings(self.judge, self.judge_base_url, self.judge_api_key_env, base)


def judge_settings(
    spec: str | None, base_url: str | None, api_key_env: str | None, base: LLMSettings | None
) -> LLMSettings | None:
    """An LLM judge's client settings: its own model, URL and key; limits and cache from ``base``."""
    if not spec:
        return None
    base = base or LLMSettings()
    return base.model_copy(
        update={"spec": spec, "base_url": base_url, "api_key_env": api_key_env, "prices": None}
    )


class ExportSettings(StageSettings):
    """Export: which formats, and where the sources' citations are (for the dataset card)."""

    section: ClassVar[str] = "export"

    formats: list[str] = Field(default_factory=lambda: list(EXPORT_FORMATS))
    sources_dir: Path | None = None  # folder of NAME/SOURCE.txt, NAME/README.md

    @field_validator("formats", mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        formats = [f.strip() for f in v.split(",") if f.strip()] if isinstance(v, str) else v
        bad = sorted(set(formats or []) - set(EXPORT_FORMATS))
        if bad:
            raise ValueError(f"unknown format(s) {bad}; choose from {', '.join(EXPORT_FORMATS)}")
        return formats


class TrainSettings(StageSettings):
    """The task expert: which kind, on which base model, and any hyper-parameter to override.

    ``None`` leaves a hyper-parameter at the expert's own default (CPU classifier or LoRA preset).
    """

    section: ClassVar[str] = "train"

    enabled: bool = False  # `run` trains only when enabled (--train)
    expert: Literal["cpu", "lora"] | None = None  # None: lora with a base_model, else cpu
    base_model: str | None = None
    seed: int | None = None
    epochs: float | None = Field(default=None, gt=0)
    lr: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    # CPU classifier
    max_seq_length: int | None = Field(default=None, ge=8)
    warmup_ratio: float | None = Field(default=None, ge=0, le=1)
    weight_decay: float | None = Field(default=None, ge=0)
    min_steps: int | None = Field(default=None, ge=0)
    probe_below: float | None = Field(default=None, ge=0)  # rows per label under which: probe only
    pair_cosine: bool | None = None  # two-field inputs: the head also reads the sides' cosine
    bf16: bool | None = None
    labels: list[str] | None = None
    threads: int | None = Field(default=None, ge=1)
    # LoRA
    method: Literal["lora", "qlora"] | None = None
    preset: str | None = None
    device: str | None = None
    r: int | None = Field(default=None, ge=1)
    alpha: int | None = Field(default=None, ge=1)
    dropout: float | None = Field(default=None, ge=0, lt=1)
    grad_accum: int | None = Field(default=None, ge=1)
    target_modules: str | list[str] | None = None
    max_length: int | None = Field(default=None, ge=8)
    max_steps: int | None = None
    completion_only_loss: bool | None = None
    gradient_checkpointing: bool | None = None

    def options(self) -> dict[str, Any]:
        """Hyper-parameters given (not None), for ``train_expert(**options)``."""
        skip = {"enabled", "expert", "base_model"}
        opts = {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}
        if self.expert != "lora" and not self.base_model and "epochs" in opts:
            opts["epochs"] = int(opts["epochs"])  # the CPU classifier counts whole epochs
        return opts


class EvalSettings(StageSettings):
    """Evaluation of the trained expert on a held-out file."""

    section: ClassVar[str] = "eval"

    data: Path | None = None  # `run` evaluates only when given (--train --eval FILE)
    input_fields: str | None = None  # raw rows: "premise,hypothesis" or "field=column,..."
    output_field: str | None = None
    exclude_examples: bool = True
    limit: int | None = Field(default=None, ge=1)
    # generation tasks: an LLM judge's win rate of the expert's outputs against the references
    judge: str | None = None  # "openai:MODEL" / "anthropic:MODEL"
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None

    def judge_llm(self, base: LLMSettings | None = None) -> LLMSettings | None:
        return judge_settings(self.judge, self.judge_base_url, self.judge_api_key_env, base)


# ---- the whole run -------------------------------------------------------------------------------
SECTIONS: dict[str, type[StageSettings]] = {
    "retrieve": RetrieveSettings,
    "llm": LLMSettings,
    "transform": TransformSettings,
    "filter": FilterSettings,
    "export": ExportSettings,
    "train": TrainSettings,
    "eval": EvalSettings,
}


class RunSettings(BaseModel):
    """Every stage's settings for ``run``, validated before any stage runs (``settings.json`` in a run)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    retrieve: RetrieveSettings = Field(default_factory=RetrieveSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    transform: TransformSettings = Field(default_factory=TransformSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)

    @classmethod
    def resolve(
        cls,
        task: Any = None,
        *,
        config_file: str | Path | None = None,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        flags: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> RunSettings:
        """task ``defaults`` < ``config_file`` (YAML) < ``config`` < ``flags``, per key; every layer checked."""
        layers: list[tuple[str, Mapping[str, Any]]] = []
        if task is not None:
            layers.append(("task defaults", task.defaults))
        if config_file is not None:
            layers.append((str(config_file), read_config(config_file)))
        if config is not None:
            layers.append(("config", config))
        if flags is not None:
            layers.append(("flags", flags))
        merged: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for origin, layer in layers:
            _check_sections(layer, origin)
            for name, values in layer.items():
                if values is None:
                    continue
                data = values.model_dump(exclude_unset=True) if isinstance(values, BaseModel) else values
                if not isinstance(data, Mapping):
                    raise SettingsError(f"{origin}: `{name}` must be a mapping of settings, not {data!r}")
                check_keys(SECTIONS[name], data, origin=origin)
                merged[name] = merge_layers(merged[name], data)
        return cls(
            **{name: model.validated(merged[name], origin="settings") for name, model in SECTIONS.items()}
        )

    def stage(self, name: str) -> StageSettings:
        return getattr(self, name)


def _check_sections(layer: Any, origin: str) -> None:
    if not isinstance(layer, Mapping):
        raise SettingsError(f"{origin}: settings are a mapping of sections ({', '.join(SECTIONS)})")
    unknown = sorted(set(layer) - set(SECTIONS))
    if unknown:
        raise SettingsError(
            f"{origin}: unknown section(s) {', '.join(map(str, unknown))}; allowed: {', '.join(SECTIONS)}"
        )


def read_config(path: str | Path) -> dict[str, Any]:
    """A ``--config`` YAML file: ``{section: {setting: value}}``."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise SettingsError(f"{path}: cannot read config: {e}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a config file is a mapping of sections ({', '.join(SECTIONS)})")
    return data


__all__ = [
    "EXPORT_FORMATS",
    "SECTIONS",
    "STAGES",
    "BuildSettings",
    "EvalSettings",
    "ExportSettings",
    "FilterSettings",
    "LLMSettings",
    "RetrieveSettings",
    "RunSettings",
    "StageSettings",
    "TrainSettings",
    "TransformSettings",
    "merge_layers",
    "read_config",
]
