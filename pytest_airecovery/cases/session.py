"""Per-session state of an ``--incident-cases`` run: settings, checks, models, outputs.

Created lazily on first use, so a pytest run that never collects a case file pays nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_airecovery.models import Model, ModelRef, ModelRefError, PinnedRef, as_model

if TYPE_CHECKING:
    from pytest_airecovery.cases.extensions import ItemKind
    from pytest_airecovery.cases.spec import CaseFile

STASH_KEY: pytest.StashKey[IncidentSession] = pytest.StashKey()


class ModelUnavailable(Exception):
    """A ref no loader could turn into a model (or whose loader raised)."""


def setting(config: pytest.Config, option: str, ini: str | None, default: Any) -> Any:
    """Command line, then ini, then the default: one place for the precedence rule."""
    value = config.getoption(option, default=None)
    if value not in (None, "", []):
        return value
    if ini is not None:
        ini_value = config.getini(ini)
        if ini_value not in (None, "", []):
            return ini_value
    return default


def load_object(spec: str) -> Any:
    """``package.module:attribute`` -> the attribute."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise pytest.UsageError(f"incident_model_loader must be 'module:attribute', got {spec!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise pytest.UsageError(f"cannot import incident_model_loader {spec!r}: {exc}") from exc
    return target


class ModelProvider:
    """Turns refs into models through the hook or the ini loader, once per ref per session."""

    def __init__(self, config: pytest.Config, *, timeout: float = 0.0) -> None:
        self.config = config
        self._timeout = timeout
        self._models: dict[str, Model | ModelUnavailable] = {}
        # The first ref each model object was loaded for: a loader that returns one object for
        # two refs declares them the same model, and only then do they share cached outputs.
        self._first_ref: dict[int, str] = {}
        self._identity_results: dict[tuple[str, ...], str | None] = {}
        self._loader_spec = config.getini("incident_model_loader") or ""
        self._loader: Any = None
        self._overrides: dict[str, str] = {}
        self._candidate_pins: dict[str, str] = {}
        for text in config.getoption("incident_models", default=None) or []:
            pinned = PinnedRef.parse(text)
            self._overrides[ModelRef.parse(pinned.ref).family] = pinned.ref
            self._add_candidate_pin(pinned, "--incident-model")
        self._ini_candidates: dict[str, str] = {}
        self._candidates: dict[str, str | ModelUnavailable] = {}
        for text in config.getini("incident_candidates"):
            try:
                pinned = PinnedRef.parse(text)
            except ModelRefError as exc:
                raise pytest.UsageError(f"incident_candidates: {exc}") from None
            self._ini_candidates[ModelRef.parse(pinned.ref).family] = pinned.ref
            self._add_candidate_pin(pinned, "incident_candidates")

    def _add_candidate_pin(self, pinned: PinnedRef, where: str) -> None:
        if pinned.sha256 is None:
            return
        known = self._candidate_pins.get(pinned.ref)
        if known is not None and known != pinned.sha256:
            raise pytest.UsageError(
                f"{where}: {pinned.ref} is pinned to two different sha256 values"
            )
        self._candidate_pins[pinned.ref] = pinned.sha256

    def candidate_pin(self, ref: str) -> str | None:
        """The sha256 the command line or ini pins the candidate ``ref`` to, if any."""
        return self._candidate_pins.get(ref)

    @property
    def loader(self) -> Any:
        if self._loader is None and self._loader_spec:
            self._loader = load_object(self._loader_spec)
        return self._loader

    def get(self, ref: str) -> Model:
        cached = self._models.get(ref)
        if cached is None:
            cached = self._load(ref)
            self._models[ref] = cached
            if isinstance(cached, Model):
                self._first_ref.setdefault(id(cached), ref)
        if isinstance(cached, ModelUnavailable):
            raise cached
        return cached

    def cache_key(self, ref: str, model: Model) -> str | None:
        """The output-cache identity of ``ref``: its fingerprint *and* a ref, so refs never alias.

        The ref is the first one the same model object was loaded for: two refs share outputs
        only when the loader says they are one model by returning one object.
        """
        fingerprint = model.fingerprint
        if not fingerprint:
            return None
        return f"{self._first_ref.get(id(model), ref)}\n{fingerprint}"

    def identity_problem(self, refs: Iterable[str]) -> str | None:
        """A message when two of ``refs`` are different model objects with one fingerprint.

        Checked over the refs a test uses (its candidate and its case file's known-good and
        known-bad), so every xdist worker reaches the same verdict for the same test.
        """
        ordered = tuple(dict.fromkeys(refs))
        if ordered not in self._identity_results:
            self._identity_results[ordered] = self._find_alias(ordered)
        return self._identity_results[ordered]

    def _find_alias(self, refs: tuple[str, ...]) -> str | None:
        owner: dict[str, tuple[str, Model]] = {}
        for ref in refs:
            try:
                model = self.get(ref)
                fingerprint = model.fingerprint
            except (ModelUnavailable, OSError):
                continue  # reported by the tests that need this model
            if not fingerprint:
                continue
            first = owner.setdefault(fingerprint, (ref, model))
            if first[1] is not model:
                return (
                    f"model identity check failed: {first[0]} and {ref} have the same fingerprint "
                    f"{fingerprint[:16]}…, so nothing tells their outputs apart. The loader must "
                    "fingerprint the config too, not only the weights: "
                    "Model(..., artifact=weights, fingerprint=pytest_airecovery.fingerprint_of(weights, config)). "
                    "If they really are one model, return the same Model object for both refs "
                    "(docs/models.md#model-identity)"
                )
        return None

    def _load(self, ref: str) -> Model | ModelUnavailable:
        from pytest_airecovery.cases.batching import BoundedCallTimeout, run_bounded

        def load() -> Any:
            obj = self.config.hook.pytest_airecovery_load_model(ref=ref, config=self.config)
            if obj is None and self.loader is not None:
                obj = self.loader(ref)
            return obj

        try:
            obj = run_bounded(load, self._timeout, name=f"airecovery-load-{ref}")
        except BoundedCallTimeout:
            return ModelUnavailable(
                f"loading {ref} did not finish within {self._timeout:g} s "
                "(--incident-model-timeout bounds loaders too); its thread is abandoned"
            )
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the loader's failure is this ref's, not the session's
            return ModelUnavailable(f"loading {ref} raised {type(exc).__name__}: {exc}")
        if obj is None:
            hint = (
                f"the loader {self._loader_spec} returned None"
                if self._loader_spec
                else "implement pytest_airecovery_load_model in conftest.py or set incident_model_loader"
            )
            return ModelUnavailable(f"no loader knows model {ref} ({hint})")
        try:
            return as_model(obj, ref)
        except TypeError as exc:
            return ModelUnavailable(str(exc))

    def candidate(self, family: str) -> str:
        # Asked by every item twice (planning, running): resolve each family once per session.
        if family not in self._candidates:
            try:
                self._candidates[family] = self._resolve_candidate(family)
            except ModelUnavailable as exc:
                self._candidates[family] = exc
        found = self._candidates[family]
        if isinstance(found, ModelUnavailable):
            raise found
        return found

    def _resolve_candidate(self, family: str) -> str:
        if family in self._overrides:
            return self._overrides[family]
        if family in self._ini_candidates:
            return self._ini_candidates[family]
        ref = self.config.hook.pytest_airecovery_candidate(family=family, config=self.config)
        if ref:
            return str(ref)
        defaults = getattr(self.loader, "candidates", None) if self.loader is not None else None
        if defaults is None and self.loader is not None:
            module = importlib.import_module(self.loader.__module__)
            defaults = getattr(module, "CANDIDATES", None)
        if isinstance(defaults, dict) and family in defaults:
            return str(defaults[family])
        raise ModelUnavailable(
            f"no candidate model for family {family!r}: pass --incident-model {family}@VERSION "
            "or set incident_candidates in the pytest configuration"
        )


class IncidentSession:
    def __init__(self, config: pytest.Config) -> None:
        from pytest_airecovery.cases.batching import (
            DEFAULT_BATCH_SIZE,
            DEFAULT_TIMEOUT,
            BatchRunner,
        )
        from pytest_airecovery.cases.cache import OutputCache, ParsedCaseCache
        from pytest_airecovery.cases.checks import builtin_registry
        from pytest_airecovery.cases.extensions import blocks_by_key
        from pytest_airecovery.cases.loader import schema_digest
        from pytest_airecovery.cases.report import ProgressLine

        self.config = config
        self.verify_catches = bool(config.getoption("incident_verify_catches", default=False))
        # What the features add (cases.hookspecs): checks, case blocks, item kinds.
        self.registry = builtin_registry()
        config.hook.pytest_airecovery_add_checks(registry=self.registry)
        self.blocks = blocks_by_key(config.hook.pytest_airecovery_case_blocks(config=config))
        self.feature_item_kinds: list[ItemKind] = [
            kind
            for answer in config.hook.pytest_airecovery_item_kinds(config=config)
            for kind in answer
        ]
        batch_size = int(
            setting(config, "incident_batch_size", "incident_batch_size", DEFAULT_BATCH_SIZE)
        )
        timeout = float(
            setting(config, "incident_model_timeout", "incident_model_timeout", DEFAULT_TIMEOUT)
        )
        self.models = ModelProvider(config, timeout=timeout)
        cache_root = cache_dir(config)
        self.parsed_cache = ParsedCaseCache(cache_root, schema_digest()) if cache_root else None
        output_cache = OutputCache(cache_root, lock_timeout=timeout) if cache_root else None
        self.runner = BatchRunner(
            self.models.get,
            output_cache,
            cache_key=self.models.cache_key,
            batch_size=batch_size,
            timeout=timeout,
            progress=ProgressLine.for_config(config),
        )
        self._pin_results: dict[tuple[str, str, str], str | None] = {}
        self._case_file_problems: dict[str, str | None] = {}
        self.obtained_written: set[str] = set()  # .obtained files of recordings (diff) written

    def case_file_problem(self, case_file: CaseFile) -> str | None:
        """Why no model output of ``case_file`` may be used (a dataset off its manifest), or None.

        Asked of the features' pre-run verifications once per case file and session.
        """
        key = str(case_file.path)
        if key not in self._case_file_problems:
            self._case_file_problems[key] = self.config.hook.pytest_airecovery_case_file_problem(
                case_file=case_file, config=self.config
            )
        return self._case_file_problems[key]

    def pin_problem(
        self, ref: str, expected: str, *, required: bool, pinned_by: str = "the case file"
    ) -> str | None:
        """A supply-chain message if ``ref``'s artifact does not match the sha256 ``expected``."""
        key = (ref, expected, pinned_by)
        if key not in self._pin_results:
            self._pin_results[key] = self._check_pin(ref, expected, required, pinned_by)
        return self._pin_results[key]

    def _check_pin(self, ref: str, expected: str, required: bool, pinned_by: str) -> str | None:
        try:
            model = self.models.get(ref)
        except ModelUnavailable as exc:
            return f"supply-chain check for {ref} cannot run: {exc}" if required else None
        try:
            actual = model.pinned_sha256
        except OSError as exc:
            return (
                f"supply-chain check failed: {ref} artifact {self._shown(model.artifact)} cannot be read "
                f"({exc.strerror or exc}); {pinned_by} pins sha256 {expected}"
            )
        if actual is None:
            return (
                f"supply-chain check failed: {pinned_by} pins {ref} to sha256 {expected}, "
                "but its loader gave no artifact to hash: pass artifact=<weights file> to "
                "pytest_airecovery.Model, or for a served model fingerprint='sha256:<digest of the "
                "served weights>' (Model and openai_chat_model take it)"
            )
        if actual != expected:
            where = (
                f"artifact {self._shown(model.artifact)}"
                if model.artifact is not None
                else "declared fingerprint"
            )
            return f"supply-chain check failed: {ref} {where} has sha256 {actual}, {pinned_by} pins {expected}"
        return None

    def _shown(self, path: str | None) -> str:
        from pytest_airecovery.cases.paths import shown_path

        if not path:
            return "(none)"
        if "://" in path:  # a served model's artifact URL is no file path
            return path
        return shown_path(path, self.config.rootpath)


def cache_dir(config: pytest.Config) -> Path | None:
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    try:
        return Path(cache.mkdir("airecovery"))
    except OSError:
        return None


def incident_session(config: pytest.Config) -> IncidentSession:
    state = config.stash.get(STASH_KEY, None)
    if state is None:
        state = IncidentSession(config)
        config.stash[STASH_KEY] = state
    return state
