"""OpenAPI description of the token authentication (imported by OncallConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "oncall.api.auth.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token; `Token <secret>` is accepted as well.",
        }


# The contract's error answers, documented once and referenced by every operation ------

ERROR_SCHEMA = {
    "type": "object",
    "description": "API.md, 'Authentication and errors': every 4xx of the API.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "Only for validation errors: problems by field.",
                    "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}]},
                },
            },
        }
    },
}
ERRORS = {
    "400": "Bad input: `malformed_json`, `invalid` (with `fields`), `unknown_person`.",
    "401": "`not_authenticated`: a missing, unknown or revoked token.",
    "403": "`permission_denied`: the token lacks the scope.",
    "404": "`not_found`: no such object (or page).",
    "409": "`invalid_state` (an action that does not fit) or `conflict` (still referenced).",
    "413": "`too_large`: a body over 1 MiB.",
    "429": "`rate_limited`: retry after `Retry-After` seconds.",
}
WRITES = {"post", "put", "patch"}


def _codes(method: str) -> list[str]:
    codes = ["400", "401", "403", "404", "414", "429"]
    if method in WRITES or method == "delete":
        codes.append("409")
    if method in WRITES:
        codes.append("413")
    return sorted(codes)


def add_error_responses(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: the shared ``Error`` component and the 4xx
    answers of API.md on every operation that does not document them itself."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    responses = components.setdefault("responses", {})
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for code, description in ERRORS.items():
        responses[f"Error{code}"] = {"description": description, "content": content}
    # Answered by the HTTP server (gunicorn's request-line limit) before the app, not JSON.
    responses["Error414"] = {"description": "The URL (path and query) is too long."}
    responses["Error429"]["headers"] = {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
    }
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in _codes(method):
                operation["responses"].setdefault(
                    code, {"$ref": f"#/components/responses/Error{code}"}
                )
    return result
