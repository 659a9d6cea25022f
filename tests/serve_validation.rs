//! Client errors are client errors, the same on SQLite and PostgreSQL: a control character in
//! any text a request carries (body field, path segment, query value) is a 422 naming the
//! field, checked before the store sees it, and never poisons a group-commit batch; error
//! messages speak JSON, not Rust; the bearer scheme is case-insensitive; every error is JSON.

mod reserve_support;

use axum::http::StatusCode;
use reserve_support::*;
use serde_json::{json, Value};
use stockcast::keys::Role;
use stockcast::reservation_store::{check_ledger, CoreError};
use stockcast::reserve::{LineRequest, Operation, Outcome, Request, ReserveRequest};
use stockcast::serve::ServeConfig;

async fn body(response: reserve_support::http::Response) -> Value {
    response.json().await.expect("JSON body")
}

fn hold(key: &str, sku: &str, warehouse: &str) -> Value {
    json!({"idempotency_key": key, "ttl_seconds": 60,
           "lines": [{"sku": sku, "warehouse": warehouse, "qty": 1}]})
}

/// Asserts a 422 `invalid_field` naming `field`.
async fn assert_invalid(response: reserve_support::http::Response, field: &str, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: not a 422"
    );
    let error = body(response).await;
    assert_eq!(error["error"], "invalid_field", "{what}: {error}");
    assert_eq!(error["field"], field, "{what}: {error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("control characters"),
        "{what}: {error}"
    );
}

async fn control_characters_are_422_naming_the_field(db: Db) {
    seed(&db.store, &[("SOFA", 5)]).await;
    let app = spawn_app(db.store.clone(), ServeConfig::default()).await;
    let held = app
        .post(
            Role::Service,
            "/v1/reservations",
            hold("ok-1", "SOFA", WAREHOUSE),
        )
        .await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let id = body(held).await["id"].as_str().unwrap().to_string();

    // Body fields.
    for (payload, field) in [
        (hold("order\u{0}1", "SOFA", WAREHOUSE), "idempotency_key"),
        (hold("k-sku", "SO\u{0}FA", WAREHOUSE), "lines[0].sku"),
        (hold("k-wh", "SOFA", "W\u{1}1"), "lines[0].warehouse"),
        (hold("k-del", "SOFA\u{7f}", WAREHOUSE), "lines[0].sku"),
    ] {
        let response = app.post(Role::Service, "/v1/reservations", payload).await;
        assert_invalid(response, field, field).await;
    }
    let commit = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{id}/commit"),
            json!({"lines": [{"sku": "SOFA\u{0}", "warehouse": WAREHOUSE, "qty": 1}]}),
        )
        .await;
    assert_invalid(commit, "lines[0].sku", "commit lines").await;
    for (adjustment, field) in [
        (
            json!({"sku": "SOFA", "warehouse": WAREHOUSE, "kind": "receipt", "qty": 1, "reason": "truck\u{0}7"}),
            "[0].reason",
        ),
        (
            json!({"sku": "SOFA\u{0}", "warehouse": WAREHOUSE, "kind": "receipt", "qty": 1}),
            "[0].sku",
        ),
    ] {
        let response = app
            .post(Role::Admin, "/v1/stock/adjustments", json!([adjustment]))
            .await;
        assert_invalid(response, field, field).await;
    }
    let poll = app
        .post(
            Role::Poller,
            "/v1/poll-responses",
            json!([{"responded_at": "2026-11-01T10:00:00Z", "sku": "SOFA", "interest": 4},
                   {"responded_at": "2026-11-01T10:00:00Z", "sku": "SO\u{0}FA", "interest": 4}]),
        )
        .await;
    assert_invalid(poll, "[1].sku", "poll response").await;

    // Path segments: percent-encoded NUL, and bytes that are not UTF-8.
    let shown = app.get(Role::Service, "/v1/reservations/res%00x").await;
    assert_invalid(shown, "id", "GET reservation").await;
    for action in ["commit", "release", "extend"] {
        let payload = if action == "extend" {
            json!({"ttl_seconds": 60})
        } else {
            json!({})
        };
        let response = app
            .post(
                Role::Service,
                &format!("/v1/reservations/res%00x/{action}"),
                payload,
            )
            .await;
        assert_invalid(response, "id", action).await;
    }
    let not_utf8 = app.get(Role::Service, "/v1/reservations/res%FFx").await;
    assert_eq!(not_utf8.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(not_utf8).await["field"], "id");

    // Query values.
    for (path, field) in [
        ("/v1/stock?sku=SKU%0002", "sku"),
        ("/v1/stock?sku=SOFA&warehouse=W%001", "warehouse"),
        ("/v1/allocations?sku=%00", "sku"),
        ("/v1/allocations?run=run%0A1", "run"),
    ] {
        let response = app.get(Role::Merchandiser, path).await;
        assert_invalid(response, field, path).await;
    }
    let forged = hex::encode("SOFA\u{0}\u{1f}W1");
    let cursor = app
        .get(
            Role::Merchandiser,
            &format!("/v1/allocations?cursor={forged}"),
        )
        .await;
    assert_eq!(cursor.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(cursor).await["field"], "cursor");

    // The store was never asked, so it is as good as before: ready, and holding as usual.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let again = app
        .post(
            Role::Service,
            "/v1/reservations",
            hold("ok-2", "SOFA", WAREHOUSE),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(row(&db.store, "SOFA").await, (5, 2));

    // The core refuses such a request itself, before it can join (and fail) a batch: the
    // good request submitted beside it is held.
    let reserver = &app.state.reserver;
    let request = |key: &str, sku: &str| Request {
        who: "test".into(),
        operation: Operation::Reserve(ReserveRequest {
            idempotency_key: key.into(),
            ttl_seconds: 60,
            lines: vec![LineRequest {
                sku: sku.into(),
                warehouse: WAREHOUSE.into(),
                qty: 1,
            }],
        }),
    };
    let (bad, good) = tokio::join!(
        reserver.submit(request("core-bad", "SOFA\u{0}")),
        reserver.submit(request("core-good", "SOFA")),
    );
    match bad {
        Err(CoreError::Invalid(error)) => assert_eq!(error.field, "lines[0].sku"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(good, Ok(Outcome::Reservation { .. })), "{good:?}");
    assert_eq!(row(&db.store, "SOFA").await, (5, 3));

    app.stop().await;
    let ledger = check_ledger(&db.store).await.unwrap();
    assert!(ledger.is_clean(), "{ledger:?}");
    db.finish().await;
}

#[tokio::test]
async fn control_characters_are_422_naming_the_field_on_sqlite() {
    control_characters_are_422_naming_the_field(Db::sqlite().await).await;
}

#[tokio::test]
async fn control_characters_are_422_naming_the_field_on_postgres() {
    let Some(db) = Db::postgres("control_characters_are_422_naming_the_field_on_postgres").await
    else {
        return;
    };
    control_characters_are_422_naming_the_field(db).await;
}

async fn http_details(db: Db) {
    seed(&db.store, &[("SOFA", 5)]).await;
    let app = spawn_app(db.store.clone(), ServeConfig::default()).await;
    let key = app.key(Role::Service).to_string();

    // The scheme is case-insensitive; other schemes are not bearer keys.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .client
            .get(app.url("/v1/stock?sku=SOFA"))
            .header("authorization", &format!("{scheme} {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let basic = app
        .client
        .get(app.url("/v1/stock"))
        .header("authorization", &format!("Basic {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // JSON errors name the field and speak JSON, not Rust.
    let post_raw = |path: &'static str, role: Role, text: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(app.key(role))
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    for (path, role, text, field) in [
        ("/v1/reservations", Role::Service, r#""hello""#, "body"),
        (
            "/v1/reservations",
            Role::Service,
            r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": [{"sku": "SOFA", "warehouse": "W1", "qty": "two"}]}"#,
            "lines[0].qty",
        ),
        (
            "/v1/reservations",
            Role::Service,
            r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": 3}"#,
            "lines",
        ),
        (
            "/v1/stock/adjustments",
            Role::Admin,
            r#"[{"sku": "SOFA", "warehouse": "W1", "kind": 3, "qty": 1}]"#,
            "[0].kind",
        ),
        (
            "/v1/stock/adjustments",
            Role::Admin,
            r#"{"sku": "SOFA"}"#,
            "body",
        ),
    ] {
        let response = post_raw(path, role, text).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{text}"
        );
        let error = body(response).await;
        assert_eq!(error["field"], field, "{text}: {error}");
        let message = error["message"].as_str().unwrap();
        for rust in ["struct", "Request", "Adjustment", "i64", "sequence", "Vec"] {
            assert!(!message.contains(rust), "{text}: {message}");
        }
        assert!(message.contains("expected"), "{text}: {message}");
    }
    let malformed = post_raw("/v1/reservations", Role::Service, "{\"lines\": [")
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let malformed = body(malformed).await;
    assert_eq!(malformed["error"], "malformed_json");
    assert!(
        malformed["message"]
            .as_str()
            .unwrap()
            .contains("line 1, column 11"),
        "{malformed}"
    );

    // A route with the wrong method and a route that does not exist are JSON too.
    let wrong_method = app.get(Role::Admin, "/v1/stock/adjustments").await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body(wrong_method).await["error"], "method_not_allowed");
    let missing = app.get(Role::Admin, "/v1/nothing-here").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(missing).await["error"], "not_found");
    assert_eq!(row(&db.store, "SOFA").await, (5, 0));
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn http_details_bearer_scheme_and_json_errors_on_sqlite() {
    http_details(Db::sqlite().await).await;
}

#[tokio::test]
async fn http_details_bearer_scheme_and_json_errors_on_postgres() {
    let Some(db) = Db::postgres("http_details_bearer_scheme_and_json_errors_on_postgres").await
    else {
        return;
    };
    http_details(db).await;
}
