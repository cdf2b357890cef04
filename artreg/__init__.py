"""artreg: an embedded artifact registry (W&B Artifacts + Registry over one SQLite file).

    >>> import artreg
    >>> reg = artreg.open(":memory:")
    >>> art = artreg.Artifact("zoo_dataset", type="dataset")
    >>> with art.new_file("rows.csv") as f:
    ...     _ = f.write("a,b\\n1,2\\n")
    >>> reg.log_artifact(art, project="zoo", aliases=["best"]).name
    'zoo_dataset:v0'
"""

from ._automations import Automation, AutomationEvent, Callback, Webhook, callback, webhook
from ._blob_cache import CacheUsage
from ._bundle import BundleSummary, Copied, CopyReport
from ._copy import verify_bundle
from ._diff import EntryChange, MetadataChange, VersionDiff
from ._draft import Artifact, DraftEntry
from ._errors import (
    AlreadyExists,
    ArtregError,
    Busy,
    Conflict,
    FileNotFound,
    IntegrityError,
    InvalidName,
    NotFound,
    PermissionDenied,
    SchemaError,
    StoreDenied,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    TypeMismatch,
)
from ._gc import CheckReport, GcReport
from ._lifecycle import INHERIT
from ._lineage import LineageEdge, LineageGraph, LineageNode
from ._manifest import ManifestEntry
from ._names import Ref, parse_ref
from ._progress import Progress
from ._registry import Registry, open
from ._runs import Run
from ._search import SearchHit
from ._storage import MoveReport
from ._versions import ArtifactVersion, Collection
from ._webhooks import Delivery, DeliveryAttempt, DeliveryReport, RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Artifact",
    "ArtifactVersion",
    "ArtregError",
    "Automation",
    "AutomationEvent",
    "BundleSummary",
    "Busy",
    "CacheUsage",
    "Callback",
    "CheckReport",
    "Collection",
    "Conflict",
    "Copied",
    "CopyReport",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryReport",
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
    "StoreDenied",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
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
