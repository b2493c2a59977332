"""Examples for every operation and answer of the upload API, keyed by operation.

Attached to the OpenAPI document by `shared.apidocs` (not in the route modules,
so routes can move between modules). Values are answers as the service sends
them; `tests/unit/test_openapi.py` checks each against its schema and fails
for an operation or status without one.

- `values`: the sample ids, answers, bodies and shared problems.
- `operations`: the direct upload, proxies, failed jobs, ingest, images, enhance.
- `tus`: the resumable uploads; `culling`: flags, ratings, kept Images.
"""

from services.upload.examples.operations import EXAMPLES
from services.upload.examples.values import PARAMETERS, SCHEMAS

__all__ = ["EXAMPLES", "PARAMETERS", "SCHEMAS"]
