"""The API reference both HTTP services publish: `/docs`, `/redoc`, and `/openapi.json` with
an example for every answer. One call per service, in its `create_app`:

    install_api_docs(app, EXAMPLES, PARAMETERS)   # with FastAPI(docs_url=None, redoc_url=None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from shared.apidocs.openapi import ApiExamples, Example, Operation, install_openapi, operations, problem
from shared.apidocs.pages import docs_router

__all__ = ["ApiExamples", "Example", "Operation", "install_api_docs", "operations", "problem"]


def install_api_docs(app: FastAPI, examples: ApiExamples, parameters: Mapping[str, Any],
                     schemas: Mapping[str, Any] | None = None) -> None:
    if app.docs_url or app.redoc_url:
        raise ValueError("create the app with docs_url=None, redoc_url=None: these pages replace them")
    install_openapi(app, examples, parameters, schemas or {})
    app.include_router(docs_router(app))
