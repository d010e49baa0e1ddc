"""`/docs`: the API's operations, listed from /openapi.json by our own page (Swagger UI would need a CDN)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from web.deps import Authenticated
from web.pages import render

router = APIRouter(tags=["docs"], dependencies=Authenticated, include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    """The OpenAPI schema of every API route."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Every operation with its method, path, summary, parameters and bodies; the schema itself at /openapi.json."""
    schema = request.app.openapi()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": op.get("description", ""),
            "parameters": [p["name"] + " (" + p["in"] + ")" for p in op.get("parameters", [])],
            "body": _ref(op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})),
            "answer": _answer(op.get("responses", {})),
            "tag": (op.get("tags") or ["other"])[0],
        }
        for path, methods in schema.get("paths", {}).items()
        for method, op in methods.items()
    ]
    return render(request, "docs.html", operations=operations, schemas=schema.get("components", {}).get("schemas", {}))


def _ref(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"list of {_ref(schema.get('items', {}))}"
    return str(schema.get("type", ""))


def _answer(responses: dict[str, Any]) -> str:
    for status, answer in responses.items():
        if status.startswith("2"):
            body = answer.get("content", {}).get("application/json", {}).get("schema")
            return f"{status} {_ref(body)}" if body else status
    return ""
