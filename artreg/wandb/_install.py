"""``install()``: make ``import wandb`` give ``artreg.wandb``, for libraries that import W&B themselves.

Besides ``sys.modules["wandb"]``, the W&B submodules integrations import are registered
(``wandb.sdk.lib``, ``wandb.wandb_run``, ``wandb.sdk.lib.config_util``, ``wandb.apis.public``,
``wandb.errors``, ...), and ``importlib.metadata`` is shown a ``wandb`` distribution of the
W&B version whose API this module follows, since integrations check it before importing
(Lightning's ``RequirementCache("wandb>=0.12.10")``). Call it before those libraries
import ``wandb``; calling it again changes nothing.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

# The W&B SDK version whose API artreg.wandb follows (what importlib.metadata.version("wandb") reports after install()).
WANDB_VERSION = "0.28.2"
_lock = threading.Lock()


class _Distribution(importlib.metadata.Distribution):
    """The ``wandb`` distribution that ``install()`` shows ``importlib.metadata``: a name and a version."""

    def read_text(self, filename: str) -> str | None:
        if filename == "METADATA":
            return f"Metadata-Version: 2.1\nName: wandb\nVersion: {WANDB_VERSION}\nSummary: artreg.wandb (W&B's API over artreg)\n"
        return None

    def locate_file(self, path: Any) -> Any:
        return path


class _Finder(importlib.machinery.PathFinder):
    """Finds no modules; answers ``importlib.metadata`` for the name ``wandb``."""

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> None:
        return None

    @classmethod
    def find_distributions(cls, context: Any = None) -> Iterator[importlib.metadata.Distribution]:  # type: ignore[override]
        name = getattr(context, "name", None)
        if name is None or name.replace("-", "_").lower() == "wandb":
            yield _Distribution()


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attributes)
    return module


def install() -> types.ModuleType:
    """Put ``artreg.wandb`` in ``sys.modules["wandb"]`` (and W&B's submodules that integrations import); returns it."""
    import artreg.wandb as wandb

    from .._run_data import RunConfig
    from . import _api, _artifact, _manifest, _rules, _run, errors

    with _lock:
        if sys.modules.get("wandb") is wandb:
            return wandb
        config_util = _module("wandb.sdk.lib.config_util", ConfigError=errors.UsageError, Config=RunConfig)
        lib = _module("wandb.sdk.lib", RunDisabled=_run.RunDisabled, config_util=config_util)
        wandb_run = _module("wandb.sdk.wandb_run", Run=_run.Run)
        artifact = _module("wandb.sdk.artifacts.artifact", Artifact=_artifact.Artifact)
        artifact_ttl = _module("wandb.sdk.artifacts.artifact_ttl", ArtifactTTL=_rules.ArtifactTTL)
        manifest_entry = _module("wandb.sdk.artifacts.artifact_manifest_entry", ArtifactManifestEntry=_manifest.ArtifactManifestEntry)
        exceptions = _module("wandb.sdk.artifacts.exceptions", ArtifactNotLoggedError=errors.ArtifactNotLoggedError,
                             ArtifactFinalizedError=errors.ArtifactFinalizedError, WaitTimeoutError=errors.WaitTimeoutError)
        artifacts = _module("wandb.sdk.artifacts", artifact=artifact, artifact_ttl=artifact_ttl, exceptions=exceptions,
                            artifact_manifest_entry=manifest_entry)
        sdk = _module("wandb.sdk", lib=lib, wandb_run=wandb_run, artifacts=artifacts, Artifact=_artifact.Artifact,
                      Settings=wandb.Settings, init=wandb.init, finish=wandb.finish)
        public = _module("wandb.apis.public", Api=_api.Api, Run=_run.PublicRun, Registry=_api.Registry,
                         ArtifactCollection=_api.ArtifactCollection, ArtifactType=_api.ArtifactType)
        public_api = _module("wandb.apis.public.api", Api=_api.Api)
        public.__dict__["api"] = public_api
        apis = _module("wandb.apis", public=public, PublicApi=_api.Api)
        data_types = _module("wandb.data_types", **vars(wandb.data_types))
        modules = {
            "wandb": wandb,
            "wandb.errors": errors,
            "wandb.sdk": sdk,
            "wandb.sdk.lib": lib,
            "wandb.sdk.lib.config_util": config_util,
            "wandb.sdk.wandb_run": wandb_run,
            "wandb.wandb_run": wandb_run,
            "wandb.sdk.artifacts": artifacts,
            "wandb.sdk.artifacts.artifact": artifact,
            "wandb.sdk.artifacts.artifact_ttl": artifact_ttl,
            "wandb.sdk.artifacts.artifact_manifest_entry": manifest_entry,
            "wandb.sdk.artifacts.exceptions": exceptions,
            "wandb.apis": apis,
            "wandb.apis.public": public,
            "wandb.apis.public.api": public_api,
            "wandb.data_types": data_types,
        }
        sys.modules.update(modules)
        for attribute, module in (("sdk", sdk), ("apis", apis), ("wandb_run", wandb_run)):
            setattr(wandb, attribute, module)
        if not any(finder is _Finder for finder in sys.meta_path):
            sys.meta_path.insert(0, _Finder)
    return wandb
