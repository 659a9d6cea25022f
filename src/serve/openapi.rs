//! The OpenAPI 3.1 document served at `/v1/openapi.json`, written by hand next to the routes;
//! a test holds it to the router's route list ([`super::routes`]), both ways.

use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn reservation_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reservation"}}}})
}

pub fn document() -> Value {
    let common = json!({
        "401": error_response("missing or unknown API key"),
        "403": error_response("the key's role does not allow this"),
        "408": error_response("request_timeout: the body did not arrive in time"),
        "413": error_response("body_too_large"),
        "429": error_response("rate limited; see Retry-After"),
        "503": error_response("unavailable (database down, shutting down) or overloaded (every connection busy); see Retry-After"),
    });
    let with = |mut responses: Value| {
        for (code, value) in common.as_object().expect("object") {
            responses[code] = value.clone();
        }
        responses
    };
    let id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "stockcast live reservation core", "version": env!("CARGO_PKG_VERSION")},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"},
                    "lines": {"type": "array", "items": {"type": "object"}}}},
                "Line": {"type": "object", "required": ["sku", "warehouse", "qty"], "properties": {
                    "sku": {"type": "string"}, "warehouse": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}},
                "ReserveRequest": {"type": "object", "required": ["idempotency_key", "ttl_seconds", "lines"], "properties": {
                    "idempotency_key": {"type": "string"}, "ttl_seconds": {"type": "integer", "minimum": 1},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}}},
                "Reservation": {"type": "object", "properties": {
                    "id": {"type": "string"}, "idempotency_key": {"type": "string"},
                    "status": {"enum": ["held", "committed", "released", "expired"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    "lines": {"type": "array", "items": {"type": "object", "properties": {
                        "sku": {"type": "string"}, "warehouse": {"type": "string"},
                        "qty": {"type": "integer"}, "committed": {"type": "integer"}}}}}},
                "Stock": {"type": "object", "properties": {
                    "sku": {"type": "string"}, "warehouse": {"type": "string"}, "on_hand": {"type": "integer"},
                    "reserved": {"type": "integer"}, "available": {"type": "integer"}}},
                "Adjustment": {"type": "object", "required": ["sku", "warehouse", "kind", "qty"], "properties": {
                    "sku": {"type": "string"}, "warehouse": {"type": "string"},
                    "kind": {"enum": ["receipt", "count", "damage", "transfer_in", "transfer_out"]},
                    "qty": {"type": "integer"}, "reason": {"type": "string"}}}
            }
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/reservations": {"post": {
                "summary": "Hold stock (all lines or none). Roles: service, admin.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReserveRequest"}}}},
                "responses": with(json!({
                    "201": reservation_response("held (or the original result of a retried idempotency key; header Idempotent-Replayed: true)"),
                    "409": error_response("insufficient_stock (with lines) or idempotency_key_reused"),
                    "422": error_response("invalid_field naming the field, or unknown_stock")}))}},
            "/v1/reservations/{id}": {"get": {"summary": "A reservation. Roles: service, merchandiser, admin.", "parameters": id_param,
                "responses": with(json!({"200": reservation_response("the reservation"), "404": error_response("no such reservation")}))}},
            "/v1/reservations/{id}/commit": {"post": {"summary": "Sell held units; optional body {\"lines\": [...]} commits fewer and releases the rest.", "parameters": id_param,
                "responses": with(json!({"200": reservation_response("committed"), "409": error_response("expired or not held"), "422": error_response("invalid_commit")}))}},
            "/v1/reservations/{id}/release": {"post": {"summary": "Give held units back.", "parameters": id_param,
                "responses": with(json!({"200": reservation_response("released"), "409": error_response("not held")}))}},
            "/v1/reservations/{id}/extend": {"post": {"summary": "Body {\"ttl_seconds\": n}: expire n seconds from now.", "parameters": id_param,
                "responses": with(json!({"200": reservation_response("extended"), "409": error_response("expired or not held")}))}},
            "/v1/stock": {"get": {"summary": "Stock rows: ?sku=A&sku=B&warehouse=W. Roles: service, merchandiser, admin.",
                "responses": with(json!({"200": {"description": "rows", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Stock"}}}}}}))}},
            "/v1/stock/adjustments": {"post": {"summary": "Bulk adjustments, all or nothing. Role: admin.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Adjustment"}}}}},
                "responses": with(json!({"200": {"description": "the adjusted rows"}, "409": error_response("below_reserved"), "422": error_response("invalid_field or unknown_stock")}))}},
            "/v1/allocations": {"get": {"summary": "Targets of the allocation run in force (?run=latest, the default), of the latest published run for a promotion (?promotion=P) or of one published run (?run=ID): ?run=&promotion=&warehouse=&sku=&limit=&cursor=.",
                "responses": with(json!({"200": {"description": "{run, targets, next_cursor}"}, "404": error_response("no published run")}))}},
            "/v1/poll-responses": {"post": {"summary": "Bulk poll responses, validated like poll_responses.csv. Roles: poller, admin.",
                "responses": with(json!({"200": {"description": "{received, loaded, rejected: [{index, reason}]}"}}))}},
            "/v1/openapi.json": {"get": {"security": [], "summary": "This document.",
                "responses": {"200": {"description": "the OpenAPI document"}}}},
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"security": [], "responses": {"200": {"description": "database reachable"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"security": [], "responses": {"200": {"description": "Prometheus text format"}}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::document;

    #[test]
    fn every_route_is_in_the_document_and_nothing_else() {
        let routed: BTreeSet<(String, String)> = super::super::routes()
            .iter()
            .map(|route| (route.path.to_string(), route.method.as_str().to_lowercase()))
            .collect();
        let document = document();
        let documented: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .as_object()
                    .expect("methods")
                    .keys()
                    .map(move |method| (path.clone(), method.clone()))
            })
            .collect();
        assert_eq!(routed, documented);
    }
}
