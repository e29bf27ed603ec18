"""botocore's service models, loaded once per service from botocore's own ``data/`` directory.

No shape is copied into lambent's tree: the model botocore ships (and its clients obey) is the
contract, read at run time with :class:`botocore.loaders.Loader`. lambent's own API (no AWS
model) is modelled in the same format under ``lambent/api/models/<service>/<version>/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel


#: botocore-format models of lambent's own services (searched before botocore's data).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@cache
def _loader() -> Loader:
    return Loader(extra_search_paths=[str(MODELS_DIR)])


@cache
def service_model(service: str) -> ServiceModel:
    """The newest ``service-2`` model of ``service`` (``lambda``, ``logs``, ``iam`` ...), cached.

    Raises botocore's ``UnknownServiceError`` / ``DataNotFoundError`` for a name botocore lacks."""
    data = _loader().load_service_model(service, "service-2")
    return ServiceModel(data, service_name=service)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)
