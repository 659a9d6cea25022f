//! The HTTP service end to end: the app on 127.0.0.1:0 against a fresh database per test, with a
//! clock the test moves (expiry never sleeps).

mod reserve_support;

use axum::http::StatusCode;
use reserve_support::*;
use serde_json::{json, Value};
use stockcast::keys::Role;
use stockcast::reservation_store::check_ledger;
use stockcast::serve::ServeConfig;

fn cart(key: &str, lines: &[(&str, i64)]) -> Value {
    json!({
        "idempotency_key": key,
        "ttl_seconds": 600,
        "lines": lines.iter().map(|(sku, qty)| json!({"sku": sku, "warehouse": WAREHOUSE, "qty": qty})).collect::<Vec<_>>(),
    })
}

async fn body(response: reserve_support::http::Response) -> Value {
    response.json().await.expect("JSON body")
}

async fn app_with(stock: &[(&str, i64)], config: ServeConfig) -> (Db, TestApp) {
    let db = Db::sqlite().await;
    seed(&db.store, stock).await;
    let app = spawn_app(db.store.clone(), config).await;
    (db, app)
}

#[tokio::test]
async fn reserve_commit_release_extend_and_expiry_over_http() {
    let (db, app) = app_with(&[("SOFA", 5), ("LAMP", 2)], ServeConfig::default()).await;

    let created = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("order-1", &[("SOFA", 2), ("LAMP", 1)]),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let reservation = body(created).await;
    assert_eq!(reservation["status"], "held");
    assert_eq!(reservation["lines"].as_array().unwrap().len(), 2);
    let id = reservation["id"].as_str().unwrap().to_string();
    assert!(reservation["expires_at"]
        .as_str()
        .unwrap()
        .starts_with("2026-11-27T09:10:00"));

    // Idempotent retry: same body → same reservation; different body → 409.
    let retry = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("order-1", &[("SOFA", 2), ("LAMP", 1)]),
        )
        .await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(body(retry).await["id"], id.as_str());
    let reused = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("order-1", &[("SOFA", 1)]),
        )
        .await;
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    assert_eq!(body(reused).await["error"], "idempotency_key_reused");

    // Not enough stock: 409 with the short lines.
    let short = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("order-2", &[("SOFA", 1), ("LAMP", 2)]),
        )
        .await;
    assert_eq!(short.status(), StatusCode::CONFLICT);
    let short = body(short).await;
    assert_eq!(short["error"], "insufficient_stock");
    assert_eq!(
        short["lines"],
        json!([{"sku": "LAMP", "warehouse": WAREHOUSE, "requested": 2, "available": 1}])
    );

    let stock = body(
        app.get(Role::Merchandiser, "/v1/stock?sku=SOFA&sku=LAMP")
            .await,
    )
    .await;
    assert_eq!(stock.as_array().unwrap().len(), 2);
    let sofa = stock
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["sku"] == "SOFA")
        .unwrap();
    assert_eq!(
        (
            sofa["on_hand"].as_i64(),
            sofa["reserved"].as_i64(),
            sofa["available"].as_i64()
        ),
        (Some(5), Some(2), Some(3))
    );

    // Partial commit: one sofa sold, the rest released.
    let committed = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{id}/commit"),
            json!({"lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]}),
        )
        .await;
    assert_eq!(committed.status(), StatusCode::OK);
    let committed = body(committed).await;
    assert_eq!(committed["status"], "committed");
    assert_eq!(committed["lines"][0]["committed"], 1);
    assert_eq!(committed["lines"][1]["committed"], 0);
    assert_eq!(row(&db.store, "SOFA").await, (4, 0));
    assert_eq!(row(&db.store, "LAMP").await, (2, 0));
    assert_eq!(live_sales(&db.store, "SOFA").await, 1.0);

    // Release and extend.
    let second = body(
        app.post(
            Role::Service,
            "/v1/reservations",
            cart("order-3", &[("SOFA", 4)]),
        )
        .await,
    )
    .await;
    let second_id = second["id"].as_str().unwrap();
    let released = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{second_id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(released.status(), StatusCode::OK);
    assert_eq!(body(released).await["status"], "released");
    assert_eq!(row(&db.store, "SOFA").await, (4, 0));
    let gone = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{second_id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(gone.status(), StatusCode::CONFLICT);

    // Expiry with the test clock: the hold stops counting the moment it is due.
    let third = body(app.post(Role::Service, "/v1/reservations", json!({"idempotency_key": "order-4", "ttl_seconds": 60, "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 4}]})).await).await;
    let third_id = third["id"].as_str().unwrap().to_string();
    let fourth = body(app.post(Role::Service, "/v1/reservations", json!({"idempotency_key": "order-5", "ttl_seconds": 60, "lines": [{"sku": "LAMP", "warehouse": WAREHOUSE, "qty": 1}]})).await).await;
    let fourth_id = fourth["id"].as_str().unwrap().to_string();
    app.clock.advance_seconds(30);
    let extended = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{fourth_id}/extend"),
            json!({"ttl_seconds": 120}),
        )
        .await;
    assert_eq!(extended.status(), StatusCode::OK);
    app.clock.advance_seconds(31);
    let stock = body(app.get(Role::Service, "/v1/stock?sku=SOFA").await).await;
    assert_eq!(
        stock[0]["available"], 4,
        "an expired hold never counts against availability"
    );
    let shown = body(
        app.get(Role::Service, &format!("/v1/reservations/{third_id}"))
            .await,
    )
    .await;
    assert_eq!(shown["status"], "expired");
    let late = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{third_id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(late.status(), StatusCode::CONFLICT);
    assert_eq!(body(late).await["error"], "expired");
    let still = body(
        app.get(Role::Service, &format!("/v1/reservations/{fourth_id}"))
            .await,
    )
    .await;
    assert_eq!(still["status"], "held");
    let missing = app.get(Role::Service, "/v1/reservations/res_nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Adjustments (admin only) and metrics.
    let adjusted = app.post(Role::Admin, "/v1/stock/adjustments", json!([
        {"sku": "SOFA", "warehouse": WAREHOUSE, "kind": "receipt", "qty": 10, "reason": "truck 7"},
        {"sku": "LAMP", "warehouse": WAREHOUSE, "kind": "damage", "qty": 1, "reason": "broken"}
    ])).await;
    assert_eq!(adjusted.status(), StatusCode::OK);
    assert_eq!(body(adjusted).await[0]["on_hand"], 14);
    let below = app
        .post(
            Role::Admin,
            "/v1/stock/adjustments",
            json!([{"sku": "LAMP", "warehouse": WAREHOUSE, "kind": "count", "qty": 0}]),
        )
        .await;
    assert_eq!(below.status(), StatusCode::CONFLICT);
    assert_eq!(body(below).await["error"], "below_reserved");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("stockcast_http_requests_total{route=\"/v1/reservations\",method=\"POST\",status=\"201\"}"), "{metrics}");
    assert!(metrics.contains("stockcast_reservation_requests_total{operation=\"reserve\",outcome=\"insufficient_stock\"} 1"));
    assert!(metrics.contains("stockcast_batch_size_count"));
    assert!(metrics.contains("stockcast_expired_holds_total"));
    assert!(metrics
        .contains("# TYPE stockcast_wal_flushes_total counter\nstockcast_wal_flushes_total "));
    assert!(metrics.contains("\nstockcast_failed_batches_total 0\n"));

    app.stop().await;
    let check = check_ledger(&db.store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    db.finish().await;
}

#[tokio::test]
async fn every_role_gets_only_its_routes() {
    let (db, app) = app_with(&[("SOFA", 100)], ServeConfig::default()).await;
    let held = body(
        app.post(
            Role::Admin,
            "/v1/reservations",
            cart("seed", &[("SOFA", 1)]),
        )
        .await,
    )
    .await;
    let id = held["id"].as_str().unwrap().to_string();
    // (method, path, body, roles allowed)
    let routes: Vec<(&str, String, Value, Vec<Role>)> = vec![
        (
            "POST",
            "/v1/reservations".into(),
            cart("x", &[("SOFA", 1)]),
            vec![Role::Admin, Role::Service],
        ),
        (
            "GET",
            format!("/v1/reservations/{id}"),
            json!(null),
            vec![Role::Admin, Role::Service, Role::Merchandiser],
        ),
        (
            "POST",
            format!("/v1/reservations/{id}/extend"),
            json!({"ttl_seconds": 60}),
            vec![Role::Admin, Role::Service],
        ),
        (
            "GET",
            "/v1/stock?sku=SOFA".into(),
            json!(null),
            vec![Role::Admin, Role::Service, Role::Merchandiser],
        ),
        (
            "POST",
            "/v1/stock/adjustments".into(),
            json!([{"sku": "SOFA", "warehouse": WAREHOUSE, "kind": "receipt", "qty": 1}]),
            vec![Role::Admin],
        ),
        (
            "GET",
            "/v1/allocations".into(),
            json!(null),
            vec![Role::Admin, Role::Service, Role::Merchandiser],
        ),
        (
            "POST",
            "/v1/poll-responses".into(),
            json!([{"responded_at": "2026-11-01T10:00:00Z", "sku": "SOFA", "interest": 4}]),
            vec![Role::Admin, Role::Poller],
        ),
    ];
    for (index, (method, path, payload, allowed)) in routes.iter().enumerate() {
        for role in [Role::Admin, Role::Service, Role::Merchandiser, Role::Poller] {
            let mut payload = payload.clone();
            if path == "/v1/reservations" {
                payload["idempotency_key"] = json!(format!("k-{index}-{role:?}"));
            }
            let request = match *method {
                "GET" => app.client.get(app.url(path)),
                _ => app.client.post(app.url(path)).json(&payload),
            };
            let response = request.bearer_auth(app.key(role)).send().await.unwrap();
            let status = response.status();
            if allowed.contains(&role) {
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role:?} {method} {path}: {status}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {method} {path}");
                let denied = body(response).await;
                assert_eq!(denied["error"], "forbidden");
                assert!(
                    !denied["message"]
                        .as_str()
                        .unwrap()
                        .contains(role_name(role)),
                    "no detail leaks"
                );
            }
        }
        // No key, a malformed header, an unknown key: 401 on every route.
        let bare = match *method {
            "GET" => app.client.get(app.url(path)),
            _ => app.client.post(app.url(path)).json(payload),
        };
        assert_eq!(
            bare.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let unknown = app
            .client
            .get(app.url(path))
            .bearer_auth("sk_unknown")
            .send()
            .await
            .unwrap();
        assert!(
            matches!(
                unknown.status(),
                StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED
            ),
            "{path}"
        );
        let basic = app
            .client
            .get(app.url("/v1/stock"))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    }
    for open in ["/healthz", "/readyz", "/v1/openapi.json"] {
        assert_eq!(
            app.client.get(app.url(open)).send().await.unwrap().status(),
            StatusCode::OK,
            "{open}"
        );
    }
    let openapi = body(
        app.client
            .get(app.url("/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(openapi["paths"]["/v1/reservations/{id}/commit"].is_object());
    app.stop().await;
    db.finish().await;
}

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_field() {
    let config = ServeConfig {
        body_limit_bytes: 2048,
        ..ServeConfig::default()
    };
    let (db, app) = app_with(&[("SOFA", 5)], config).await;
    let post_raw = |text: &'static str| {
        app.client
            .post(app.url("/v1/reservations"))
            .bearer_auth(app.key(Role::Service))
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    let malformed = post_raw("{\"idempotency_key\": ").await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(malformed).await["error"], "malformed_json");

    let wrong_type = post_raw(r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": [{"sku": "SOFA", "warehouse": "W1", "qty": "two"}]}"#).await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(wrong_type).await["field"], "lines[0].qty");

    let missing = post_raw(r#"{"idempotency_key": "a", "lines": []}"#)
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(missing).await["message"]
        .as_str()
        .unwrap()
        .contains("ttl_seconds"));

    for (qty, case) in [
        (0i64, "zero"),
        (-3, "negative"),
        (1_000_000_000_000, "huge"),
    ] {
        let response = app
            .post(
                Role::Service,
                "/v1/reservations",
                cart(case, &[("SOFA", qty)]),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{case}"
        );
        let error = body(response).await;
        assert_eq!(error["error"], "invalid_field");
        assert_eq!(error["field"], "lines[0].qty", "{case}");
    }
    let overflow = post_raw(r#"{"idempotency_key": "a", "ttl_seconds": 60, "lines": [{"sku": "SOFA", "warehouse": "W1", "qty": 99999999999999999999999}]}"#).await.unwrap();
    assert_eq!(overflow.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let long_ttl = app.post(Role::Service, "/v1/reservations", json!({"idempotency_key": "t", "ttl_seconds": 86400 * 30, "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]})).await;
    assert_eq!(long_ttl.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(long_ttl).await["field"], "ttl_seconds");

    let unknown = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("u", &[("NO-SUCH-SKU", 1)]),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(unknown).await["error"], "unknown_stock");

    let too_many_lines: Vec<(&str, i64)> = vec![("SOFA", 1); 101];
    let many = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("m", &too_many_lines),
        )
        .await;
    assert!(matches!(
        many.status(),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::PAYLOAD_TOO_LARGE
    ));

    let oversized = app
        .client
        .post(app.url("/v1/reservations"))
        .bearer_auth(app.key(Role::Service))
        .header("content-type", "application/json")
        .body(format!("{{\"idempotency_key\": \"{}\"}}", "x".repeat(4096)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body(oversized).await["error"], "body_too_large");

    assert_eq!(
        row(&db.store, "SOFA").await,
        (5, 0),
        "no bad request held anything"
    );
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let config = ServeConfig {
        rate_limit_per_second: 0.5,
        rate_limit_burst: 3.0,
        ..ServeConfig::default()
    };
    let (db, app) = app_with(&[("SOFA", 5)], config).await;
    for _ in 0..3 {
        assert_eq!(
            app.get(Role::Merchandiser, "/v1/stock").await.status(),
            StatusCode::OK
        );
    }
    let limited = app.get(Role::Merchandiser, "/v1/stock").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(body(limited).await["error"], "rate_limited");
    assert_eq!(
        app.get(Role::Service, "/v1/stock").await.status(),
        StatusCode::OK,
        "limits are per key"
    );
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn allocations_page_through_the_latest_published_run() {
    let (db, app) = app_with(&[("SOFA", 5)], ServeConfig::default()).await;
    assert_eq!(
        app.get(Role::Merchandiser, "/v1/allocations")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    stockcast::on_backend!(&db.store, pool => {
        for (run, status, published) in [("run-old", "published", "2026-11-01T00:00:00Z"), ("run-new", "published", "2026-11-20T00:00:00Z"), ("run-writing", "writing", "2026-11-25T00:00:00Z")] {
            sqlx::query("INSERT INTO allocation_runs (id, created_at, published_at, as_of, promotion, policy, status, objective, bound, gap, input_fingerprint) VALUES ($1, $2, $2, '2026-11-01', 'black-friday', 'margin', $3, 1, 1, 0, 'x')")
                .bind(run).bind(chrono::DateTime::parse_from_rfc3339(published).unwrap().with_timezone(&chrono::Utc)).bind(status).execute(pool).await.unwrap();
            for (sku, warehouse) in [("A", "W1"), ("A", "W2"), ("B", "W1"), ("C", "W1"), ("C", "W2")] {
                sqlx::query("INSERT INTO allocation_targets (run_id, sku, warehouse, target_units, current_units, expected_sales, fill_rate) VALUES ($1, $2, $3, 7, 3, 5.5, 0.9)")
                    .bind(run).bind(sku).bind(warehouse).execute(pool).await.unwrap();
            }
        }
    });
    let mut seen = Vec::new();
    let mut path = "/v1/allocations?run=latest&limit=2".to_string();
    loop {
        let page = body(app.get(Role::Merchandiser, &path).await).await;
        assert_eq!(
            page["run"]["id"], "run-new",
            "the latest published run, not the one being written"
        );
        for target in page["targets"].as_array().unwrap() {
            seen.push(format!(
                "{}@{}",
                target["sku"].as_str().unwrap(),
                target["warehouse"].as_str().unwrap()
            ));
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/allocations?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["A@W1", "A@W2", "B@W1", "C@W1", "C@W2"]);
    let w2 = body(
        app.get(Role::Merchandiser, "/v1/allocations?warehouse=W2")
            .await,
    )
    .await;
    assert_eq!(w2["targets"].as_array().unwrap().len(), 2);
    let one_sku = body(app.get(Role::Merchandiser, "/v1/allocations?sku=B").await).await;
    assert_eq!(one_sku["targets"][0]["target_units"], 7);
    let bad = app.get(Role::Merchandiser, "/v1/allocations?limit=0").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(bad).await["field"], "limit");
    let garbage = app
        .get(Role::Merchandiser, "/v1/allocations?cursor=zz")
        .await;
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn poll_responses_are_validated_like_the_csv_contract() {
    let (db, app) = app_with(&[("SOFA", 5)], ServeConfig::default()).await;
    let posted = app.post(Role::Poller, "/v1/poll-responses", json!([
        {"responded_at": "2026-11-01T10:00:00Z", "sku": "SOFA", "interest": 5, "intends_to_buy": true},
        {"responded_at": "2026-11-01T11:00:00Z", "category": "sofas", "interest": 2},
        {"responded_at": "2026-11-01T12:00:00Z", "sku": "SOFA", "interest": 9},
        {"responded_at": "yesterday", "sku": "GHOST", "interest": 3}
    ])).await;
    assert_eq!(posted.status(), StatusCode::OK);
    let report = body(posted).await;
    assert_eq!(report["received"], 4);
    assert_eq!(report["loaded"], 2);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 2);
    assert!(rejected[0]["reason"].as_str().unwrap().contains("interest"));
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .contains("responded_at"));
    assert!(rejected[1]["reason"].as_str().unwrap().contains("sku"));
    let stored: i64 = stockcast::on_backend!(&db.store, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM poll_responses").fetch_one(pool).await.unwrap()
    });
    assert_eq!(stored, 2);
    // The same answers again are the same rows (keys from content), not duplicates.
    app.post(Role::Poller, "/v1/poll-responses", json!([{"responded_at": "2026-11-01T10:00:00Z", "sku": "SOFA", "interest": 5, "intends_to_buy": true}])).await;
    let stored: i64 = stockcast::on_backend!(&db.store, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM poll_responses").fetch_one(pool).await.unwrap()
    });
    assert_eq!(stored, 2);
    let empty = app
        .post(Role::Poller, "/v1/poll-responses", json!([]))
        .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn http_flow_on_postgres() {
    let Some(db) = Db::postgres("http_flow_on_postgres").await else {
        return;
    };
    seed(&db.store, &[("SOFA", 3)]).await;
    let app = spawn_app(db.store.clone(), ServeConfig::default()).await;
    let first = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("pg-1", &[("SOFA", 2)]),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let id = body(first).await["id"].as_str().unwrap().to_string();
    let short = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("pg-2", &[("SOFA", 2)]),
        )
        .await;
    assert_eq!(short.status(), StatusCode::CONFLICT);
    let committed = app
        .post(
            Role::Service,
            &format!("/v1/reservations/{id}/commit"),
            json!({}),
        )
        .await;
    assert_eq!(committed.status(), StatusCode::OK);
    assert_eq!(row(&db.store, "SOFA").await, (1, 0));
    assert_eq!(live_sales(&db.store, "SOFA").await, 2.0);
    app.stop().await;
    assert!(check_ledger(&db.store).await.unwrap().is_clean());
    db.finish().await;
}

#[tokio::test]
async fn keys_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let cli = || {
        let mut command = assert_cmd::Command::cargo_bin("stockcast").unwrap();
        command
            .env("STOCKCAST_DATABASE_URL", &url)
            .env_remove("STOCKCAST_LOG");
        command
    };
    let created = cli()
        .args(["keys", "create", "--role", "service", "--label", "checkout"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let secret = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(secret.starts_with("sk_") && secret.len() == 67, "{secret}");
    let listed = cli().args(["keys", "list"]).output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("service") && listed.contains("checkout"));
    assert!(!listed.contains(&secret), "secrets are never shown again");
    let store = stockcast::store::Store::open(&url, &Default::default())
        .await
        .unwrap();
    let key = stockcast::keys::authenticate(&store, &secret)
        .await
        .unwrap()
        .expect("key works");
    let stored: String = stockcast::on_backend!(&store, pool => {
        sqlx::query_scalar("SELECT key_hash FROM api_keys").fetch_one(pool).await.unwrap()
    });
    assert_ne!(stored, secret, "only a hash is stored");
    cli().args(["keys", "revoke", &key.id]).assert().success();
    assert!(stockcast::keys::authenticate(&store, &secret)
        .await
        .unwrap()
        .is_none());
    cli().args(["keys", "revoke", "key_nope"]).assert().code(2);
    cli()
        .args(["keys", "create", "--role", "root"])
        .assert()
        .code(2);
    store.close().await;
}

#[tokio::test]
async fn serves_https_from_pem_files_and_refuses_plain_http_on_that_port() {
    let tls = stockcast::serve::tls::server_config(
        &reserve_support::tls_fixture("server.pem"),
        &reserve_support::tls_fixture("server.key"),
    )
    .expect("the fixture certificate and key load");
    let config = ServeConfig {
        tls: Some(tls),
        ..ServeConfig::default()
    };
    let (db, app) = app_with(&[("SOFA", 3)], config).await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let held = app
        .post(
            Role::Service,
            "/v1/reservations",
            cart("tls-1", &[("SOFA", 2)]),
        )
        .await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let held = body(held).await;
    assert_eq!(held["status"], "held");
    let id = held["id"].as_str().unwrap();
    let shown = app
        .get(Role::Merchandiser, &format!("/v1/reservations/{id}"))
        .await;
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(row(&db.store, "SOFA").await, (3, 2));

    // Plain HTTP to the TLS port gets no HTTP answer: the handshake fails and the
    // connection closes.
    let plain = reserve_support::http::client()
        .get(app.base.replacen("https://", "http://", 1) + "/healthz")
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP must not be answered on the TLS port"
    );
    // The server keeps serving TLS clients after that.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.stop().await;
    db.finish().await;
}

#[test]
fn serve_names_the_tls_file_it_cannot_use_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tls.db").display());
    let not_a_key = dir.path().join("not-a-key.pem");
    std::fs::write(&not_a_key, "hello\n").unwrap();
    let cert = reserve_support::tls_fixture("server.pem");
    let serve = |key: &std::path::Path| {
        assert_cmd::Command::cargo_bin("stockcast")
            .unwrap()
            .env("STOCKCAST_DATABASE_URL", &url)
            .env_remove("STOCKCAST_LOG")
            .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap()
    };
    let refused = serve(&not_a_key);
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(message.contains("not-a-key.pem"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    let missing = serve(&dir.path().join("missing.key"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8(missing.stderr)
        .unwrap()
        .contains("missing.key"));
    // Half a TLS configuration is a usage error.
    assert_cmd::Command::cargo_bin("stockcast")
        .unwrap()
        .env("STOCKCAST_DATABASE_URL", &url)
        .args(["serve", "--tls-cert"])
        .arg(&cert)
        .assert()
        .code(2);
}

/// `/readyz` is 200 while the database answers and 503 once it does not, on either backend.
async fn readyz_follows_the_database(db: Db) {
    let store = db.second_store().await;
    let app = spawn_app(store.clone(), ServeConfig::default()).await;
    let up = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(up.status(), StatusCode::OK);
    assert_eq!(body(up).await["status"], "ready");
    store.close().await;
    let down = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        healthz.status(),
        StatusCode::OK,
        "liveness does not need the database"
    );
    app.stop().await;
    db.finish().await;
}

#[tokio::test]
async fn readyz_follows_the_database_sqlite() {
    readyz_follows_the_database(Db::sqlite().await).await;
}

#[tokio::test]
async fn readyz_follows_the_database_postgres() {
    let Some(db) = Db::postgres("readyz_follows_the_database_postgres").await else {
        return;
    };
    readyz_follows_the_database(db).await;
}
