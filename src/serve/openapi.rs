//! The OpenAPI 3.1 document served at `/v1/openapi.json`, generated from the route list
//! ([`super::routes`]: each route's path, method and operation come from the `#[utoipa::path]`
//! on its handler) and the body types (`#[derive(utoipa::ToSchema)]`), so it cannot drift from
//! either. Tests hold it to the route list both ways and check every body's schema resolves.

use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, PathItem, PathsBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApiBuilder, Ref, RefOr, ResponseBuilder,
};

/// The JSON body of every error answer (`super::error::error_body`, plus the fields some codes
/// add). Documentation only: errors are built as JSON.
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: String,
    message: String,
    /// The field an `invalid_field` names.
    field: Option<String>,
    /// The short lines of an `insufficient_stock`.
    lines: Option<Vec<serde_json::Value>>,
}

/// Answers any route that needs a key may give, besides its own.
const KEYED_RESPONSES: [(&str, &str); 6] = [
    ("401", "missing or unknown API key"),
    ("403", "the key's role does not allow this"),
    ("408", "request_timeout: the body did not arrive in time"),
    ("413", "body_too_large"),
    ("429", "rate limited; see Retry-After"),
    ("503", "unavailable (database down, shutting down) or overloaded (every connection busy); see Retry-After"),
];

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Error")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}

fn http_method(method: &axum::http::Method) -> HttpMethod {
    match *method {
        axum::http::Method::GET => HttpMethod::Get,
        axum::http::Method::POST => HttpMethod::Post,
        axum::http::Method::PUT => HttpMethod::Put,
        axum::http::Method::DELETE => HttpMethod::Delete,
        axum::http::Method::PATCH => HttpMethod::Patch,
        _ => unreachable!("serve::route takes only these methods"),
    }
}

pub fn document() -> Value {
    let mut paths = PathsBuilder::new();
    let mut components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    for route in super::routes() {
        let mut operation = route.operation;
        // A route without its own `security` takes the document's: it needs a key.
        if operation.security.is_none() {
            for (code, description) in KEYED_RESPONSES {
                operation
                    .responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| error_response(description));
            }
        }
        paths = paths.path(
            route.path,
            PathItem::new(http_method(&route.method), operation),
        );
        components = components.schemas_from_iter(route.schemas);
    }
    let info = InfoBuilder::new()
        .title("stockcast live reservation core")
        .version(env!("CARGO_PKG_VERSION"))
        .build();
    let document = OpenApiBuilder::new()
        .info(info)
        .paths(paths)
        .components(Some(components.build()))
        .security(Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]))
        .build();
    serde_json::to_value(document).expect("the document serialises")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

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

    /// Every `$ref` under `value`, with where it was found.
    fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => {
                            out.push((at.to_string(), target.clone()))
                        }
                        _ => refs(item, &format!("{at}/{key}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    refs(item, &format!("{at}/{index}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn request_bodies_have_schemas_and_every_reference_resolves() {
        let document = document();
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        let mut bodies = BTreeSet::new();
        for (path, methods) in document["paths"].as_object().expect("paths") {
            for (method, operation) in methods.as_object().expect("methods") {
                let Some(body) = operation.get("requestBody") else {
                    continue;
                };
                let schema = &body["content"]["application/json"]["schema"];
                assert!(
                    schema.is_object(),
                    "{method} {path}: a request body without a schema"
                );
                bodies.insert(format!("{method} {path}"));
            }
        }
        let expected: BTreeSet<String> = [
            "post /v1/reservations",
            "post /v1/reservations/{id}/commit",
            "post /v1/reservations/{id}/extend",
            "post /v1/stock/adjustments",
            "post /v1/poll-responses",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        assert_eq!(bodies, expected, "the routes that read a JSON body");
        let mut found = Vec::new();
        refs(&document, "", &mut found);
        assert!(!found.is_empty());
        for (at, target) in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{at}: {target} is not a schema reference"));
            assert!(
                schemas.contains_key(name),
                "{at}: {target} is not in the document"
            );
        }
        for name in [
            "ReserveRequest",
            "LineRequest",
            "Reservation",
            "Adjustment",
            "StockView",
            "Error",
        ] {
            assert!(schemas.contains_key(name), "no schema {name}");
        }
    }
}
