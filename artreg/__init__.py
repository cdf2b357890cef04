"""artreg: an embedded artifact registry (W&B Artifacts + Registry over one SQLite file).

    >>> import artreg
    >>> reg = artreg.open(":memory:")
    >>> art = artreg.Artifact("zoo_dataset", type="dataset")
    >>> with art.new_file("rows.csv") as f:
    ...     _ = f.write("a,b\\n1,2\\n")
    >>> reg.log_artifact(art, project="zoo", aliases=["best"]).name
    'zoo_dataset:v0'
"""

from ._audit import AliasChange, AuditEntry, AuditLog
from ._automations import Automation, AutomationEvent, Automations, Callback, Webhook, callback, webhook
from ._bundle import BundleSummary, Copied, CopyReport
from ._catalog import Catalog
from ._copy import verify_bundle
from ._diff import EntryChange, MetadataChange, VersionDiff
from ._draft import Artifact
from ._errors import (
    AlreadyExists,
    ArtregError,
    Busy,
    CatalogDenied,
    CatalogUnavailable,
    Conflict,
    DiskError,
    FileNotFound,
    IntegrityError,
    InvalidName,
    MissingExtra,
    NotFound,
    PermissionDenied,
    SchemaError,
    SourceError,
    StoreDenied,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    TypeMismatch,
)
from ._gc import CheckReport, GcReport
from ._lifecycle import INHERIT, TTL
from ._lineage import LineageEdge, LineageGraph, LineageNode
from ._names import Ref, parse_ref
from ._progress import Progress
from ._registry import Registry, open
from ._runs import Run
from ._search import SearchHit
from ._sources import DraftEntry
from ._version import __version__
from ._versions import ArtifactVersion, Collection
from ._webhooks import Delivery, DeliveryAttempt, DeliveryReport, RetryPolicy
from .storage._blob_cache import CacheUsage
from .storage._manifest import ManifestEntry
from .storage._storage import MoveReport

__all__ = [
    "AliasChange",
    "AlreadyExists",
    "Artifact",
    "ArtifactVersion",
    "ArtregError",
    "AuditEntry",
    "AuditLog",
    "Automation",
    "AutomationEvent",
    "Automations",
    "BundleSummary",
    "Busy",
    "CacheUsage",
    "Callback",
    "Catalog",
    "CatalogDenied",
    "CatalogUnavailable",
    "CheckReport",
    "Collection",
    "Conflict",
    "Copied",
    "CopyReport",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
    "DiskError",
    "DraftEntry",
    "EntryChange",
    "FileNotFound",
    "GcReport",
    "INHERIT",
    "IntegrityError",
    "InvalidName",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ManifestEntry",
    "MetadataChange",
    "MissingExtra",
    "MoveReport",
    "NotFound",
    "PermissionDenied",
    "Progress",
    "Ref",
    "Registry",
    "RetryPolicy",
    "Run",
    "SchemaError",
    "SearchHit",
    "SourceError",
    "StoreDenied",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "TTL",
    "TypeMismatch",
    "VersionDiff",
    "Webhook",
    "__version__",
    "callback",
    "open",
    "parse_ref",
    "verify_bundle",
    "webhook",
]
