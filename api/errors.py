"""Every refusal is a 4xx naming the field and the reason: ``{"status": 422, "errors": [{"field", "reason"}]}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.warehouse import NotPublishedError

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    status: int
    errors: list[FieldError]


class ApiError(Exception):
    """A request the API refuses: status, the field at fault (``query.from``, ``path.id``, ``body``...), why."""

    def __init__(self, status: int, field: str, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.errors = [FieldError(field=field, reason=reason)]
        self.headers = headers


def error_response(status: int, errors: list[FieldError], headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(status=status, errors=errors)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.errors, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [FieldError(field=_location(tuple(item.get("loc", ()))), reason=str(item.get("msg", "invalid")))
                  for item in error.errors()]
        return error_response(422, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, [FieldError(field="request", reason=str(error.detail))],
                              getattr(error, "headers", None))

    @app.exception_handler(NotPublishedError)
    async def not_published(_: Request, error: NotPublishedError) -> JSONResponse:
        # Not the caller's fault and not a crash: the warehouse is not there yet. Retry-After: builds take minutes.
        return error_response(503, [FieldError(field="warehouse", reason=str(error))], {"Retry-After": "60"})
