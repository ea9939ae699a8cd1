"""Per-session state of an ``--incident-cases`` run: settings, checks, models, outputs.

Created lazily on first use, so a pytest run that never collects a case file pays nothing.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from pytest_airecovery.models import Model, ModelRef, ModelRefError, as_model

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

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._models: dict[str, Model | ModelUnavailable] = {}
        self._loader_spec = config.getini("incident_model_loader") or ""
        self._loader: Any = None
        overrides = config.getoption("incident_models", default=None) or []
        self._overrides = {ModelRef.parse(ref).family: ref for ref in overrides}
        self._ini_candidates: dict[str, str] = {}
        self._candidates: dict[str, str | ModelUnavailable] = {}
        for ref in config.getini("incident_candidates"):
            try:
                parsed = ModelRef.parse(ref)
            except ModelRefError as exc:
                raise pytest.UsageError(f"incident_candidates: {exc}") from None
            self._ini_candidates[parsed.family] = str(parsed)

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
        if isinstance(cached, ModelUnavailable):
            raise cached
        return cached

    def _load(self, ref: str) -> Model | ModelUnavailable:
        try:
            obj = self.config.hook.pytest_airecovery_load_model(ref=ref, config=self.config)
            if obj is None and self.loader is not None:
                obj = self.loader(ref)
        except Exception as exc:  # noqa: BLE001 - the loader's failure is this ref's, not the session's
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
        from pytest_airecovery.batching import DEFAULT_BATCH_SIZE, DEFAULT_TIMEOUT, BatchRunner
        from pytest_airecovery.cache import OutputCache, ParsedCaseCache
        from pytest_airecovery.cases.loader import schema_digest
        from pytest_airecovery.checks import builtin_registry
        from pytest_airecovery.report import ProgressLine

        self.config = config
        self.verify_catches = bool(config.getoption("incident_verify_catches", default=False))
        from pytest_airecovery.diff.differ import record_mode

        self.record_mode = record_mode(config)
        self.registry = builtin_registry()
        config.hook.pytest_airecovery_add_checks(registry=self.registry)
        self.models = ModelProvider(config)
        cache_root = cache_dir(config)
        self.parsed_cache = ParsedCaseCache(cache_root, schema_digest()) if cache_root else None
        output_cache = OutputCache(cache_root) if cache_root else None
        batch_size = int(
            setting(config, "incident_batch_size", "incident_batch_size", DEFAULT_BATCH_SIZE)
        )
        timeout = float(
            setting(config, "incident_model_timeout", "incident_model_timeout", DEFAULT_TIMEOUT)
        )
        self.runner = BatchRunner(
            self.models.get,
            output_cache,
            batch_size=batch_size,
            timeout=timeout,
            progress=ProgressLine.for_config(config),
        )
        self._pin_results: dict[tuple[str, str], str | None] = {}
        self._dataset_results: dict[str, str | None] = {}
        self.obtained_written: set[str] = set()

    def dataset_problem(self, case_file: Any) -> str | None:
        """A data-integrity message if a dataset the case file names differs from its manifest."""
        if not case_file.datasets:
            return None
        key = str(case_file.path)
        if key not in self._dataset_results:
            self._dataset_results[key] = _verify_datasets(case_file)
        return self._dataset_results[key]

    def pin_problem(self, pins: dict[str, str], ref: str, *, required: bool) -> str | None:
        """A supply-chain message if ``ref``'s artifact does not match the case file's pin."""
        expected = pins.get(ref)
        if expected is None:
            return None
        key = (ref, expected)
        if key not in self._pin_results:
            self._pin_results[key] = self._check_pin(ref, expected, required)
        return self._pin_results[key]

    def _check_pin(self, ref: str, expected: str, required: bool) -> str | None:
        try:
            model = self.models.get(ref)
        except ModelUnavailable as exc:
            return f"supply-chain check for {ref} cannot run: {exc}" if required else None
        actual = model.artifact_sha256
        if actual is None:
            return (
                f"supply-chain check failed: the case file pins {ref} to sha256 {expected}, "
                "but its loader gave no artifact to hash (pass artifact= to pytest_airecovery.Model)"
            )
        if actual != expected:
            return (
                f"supply-chain check failed: {ref} artifact {model.artifact} has sha256 {actual}, "
                f"the case file pins {expected}"
            )
        return None


def _verify_datasets(case_file: Any) -> str | None:
    from pytest_airecovery.data.errors import DataKitError, ManifestTamperedError
    from pytest_airecovery.data.fixtures import verify_case_dataset

    for dataset in case_file.datasets:
        where = f"{case_file.path.name}:{dataset.line}"
        try:
            diff = verify_case_dataset(
                case_file.path.parent, dataset.path, dataset.manifest, dataset.merkle_root
            )
        except ManifestTamperedError as exc:
            problems = "; ".join(f"{kind}: {detail}" for kind, detail in exc.problems)
            return f"data integrity check failed ({where}): manifest {dataset.manifest} is tampered: {problems}"
        except DataKitError as exc:
            return f"data integrity check failed ({where}): cannot verify {dataset.path}: {exc}"
        if not diff.identical:
            return (
                f"data integrity check failed ({where}): {dataset.path} differs from {dataset.manifest}: "
                f"{diff.summary()}"
            )
    return None


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
