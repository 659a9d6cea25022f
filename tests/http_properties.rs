//! Property tests over the HTTP request parsers: any path, query, header or body a client can
//! send gets an answer (never a dropped connection), a client error is a 4xx with a JSON
//! error body, nothing a client sends makes the server report itself broken (5xx), and the
//! stock ledger stays consistent. On SQLite and PostgreSQL.
//!
//! `cargo test` runs a bounded number of cases; `PROPTEST_CASES=2000 cargo test --test
//! http_properties` runs more.

mod reserve_support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reserve_support::*;
use serde_json::{json, Value};
use stockcast::keys::Role;
use stockcast::reservation_store::check_ledger;
use stockcast::serve::ServeConfig;

const DEFAULT_CASES: u32 = 48;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Text a hostile client would try: control characters, NUL, quotes, long runs, non-ASCII,
/// percent signs and the seeded SKU itself.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SOFA".to_string()),
        Just(WAREHOUSE.to_string()),
        "[\\x00-\\x1f\\x7f]{1,4}",
        "[a-zA-Z0-9%./\\\\\"' -]{0,24}",
        "\\PC{0,16}",
        ".{0,8}\\x00.{0,8}",
        "[A-Z]{300,400}",
    ]
}

fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..10).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        hostile_text().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
    ]
}

/// A reservation body, mostly well-shaped, with hostile values and missing fields.
fn reservation_body() -> impl Strategy<Value = Value> {
    let line = (hostile_text(), hostile_text(), hostile_number())
        .prop_map(|(sku, warehouse, qty)| json!({"sku": sku, "warehouse": warehouse, "qty": qty}));
    (
        hostile_text(),
        hostile_number(),
        prop::collection::vec(line, 0..4),
        any::<u8>(),
    )
        .prop_map(|(key, ttl, lines, drop)| {
            let mut body = json!({"idempotency_key": key, "ttl_seconds": ttl, "lines": lines});
            let object = body.as_object_mut().expect("an object");
            match drop % 5 {
                0 => {
                    object.remove("idempotency_key");
                }
                1 => {
                    object.remove("lines");
                }
                2 => {
                    object.insert("unknown".into(), json!(true));
                }
                _ => {}
            }
            body
        })
}

/// Percent-encodes every byte outside unreserved ASCII, so any text fits a path or query.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Probe {
    /// POST a body (JSON or raw bytes) to a route.
    Post {
        path: String,
        body: Vec<u8>,
        content_type: Option<String>,
    },
    /// GET a path with a hostile segment or query.
    Get { path: String },
    /// A request with a hostile authorization header.
    Auth { header: String },
}

fn probe() -> impl Strategy<Value = Probe> {
    let routes = prop::sample::select(vec![
        "/v1/reservations",
        "/v1/stock/adjustments",
        "/v1/poll-responses",
    ]);
    let json_post = (routes.clone(), reservation_body()).prop_map(|(path, body)| Probe::Post {
        path: path.to_string(),
        body: serde_json::to_vec(&body).expect("JSON"),
        content_type: Some("application/json".into()),
    });
    let raw_post = (
        routes,
        prop::collection::vec(any::<u8>(), 0..256),
        prop::option::of("[ -~]{0,40}"),
    )
        .prop_map(|(path, body, content_type)| Probe::Post {
            path: path.to_string(),
            body,
            content_type,
        });
    let action = prop::sample::select(vec!["", "/commit", "/release", "/extend"]);
    let segment_post = (hostile_text(), action).prop_map(|(id, action)| Probe::Post {
        path: format!("/v1/reservations/{}{action}", encode(&id)),
        body: b"{}".to_vec(),
        content_type: Some("application/json".into()),
    });
    let get = (
        prop::sample::select(vec![
            "/v1/reservations/",
            "/v1/stock?sku=",
            "/v1/stock?warehouse=",
            "/v1/allocations?run=",
            "/v1/allocations?sku=",
            "/v1/stock?limit=",
        ]),
        hostile_text(),
    )
        .prop_map(|(prefix, text)| Probe::Get {
            path: format!("{prefix}{}", encode(&text)),
        });
    let auth = "[ -~]{0,60}".prop_map(|header| Probe::Auth { header });
    prop_oneof![json_post, raw_post, segment_post, get, auth]
}

async fn send(
    app: &TestApp,
    probe: &Probe,
) -> Result<reserve_support::http::Response, reqwest::Error> {
    let key = app.key(Role::Admin).to_string();
    match probe {
        Probe::Post {
            path,
            body,
            content_type,
        } => {
            let mut request = app
                .client
                .post(app.url(path))
                .bearer_auth(&key)
                .body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            request.send().await
        }
        Probe::Get { path } => app.client.get(app.url(path)).bearer_auth(&key).send().await,
        Probe::Auth { header } => {
            app.client
                .get(app.url("/v1/stock"))
                .header("authorization", header)
                .send()
                .await
        }
    }
}

async fn check(app: &TestApp, probe: &Probe) -> Result<(), TestCaseError> {
    let response = send(app, probe)
        .await
        .map_err(|error| TestCaseError::fail(format!("no answer: {error}")))?;
    let status = response.status();
    prop_assert!(
        !status.is_server_error(),
        "{probe:?} got {status}: {}",
        response.text().await.unwrap_or_default()
    );
    if status.is_client_error() {
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).map_err(|_| {
            TestCaseError::fail(format!("{probe:?}: a {status} that is not JSON: {text}"))
        })?;
        prop_assert!(body["error"].is_string(), "{probe:?}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        prop_assert!(
            !message.contains("struct ") && !message.contains("panicked"),
            "{probe:?}: {message}"
        );
    }
    Ok(())
}

async fn any_request_gets_a_clean_answer(db: Db) {
    seed(&db.store, &[("SOFA", 50)]).await;
    // Rate limits and body caps are part of the parser under test; a generous rate keeps
    // the cases from turning into a test of the limiter.
    let config = ServeConfig {
        rate_limit_per_second: 1.0e6,
        rate_limit_burst: 1.0e6,
        ..ServeConfig::default()
    };
    let app = spawn_app(db.store.clone(), config).await;
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&probe(), |probe| handle.block_on(check(&app, &probe)))
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // The server still serves a good request, and the ledger adds up.
    let held = app
        .post(
            Role::Service,
            "/v1/reservations",
            json!({"idempotency_key": "after-the-storm", "ttl_seconds": 60,
                   "lines": [{"sku": "SOFA", "warehouse": WAREHOUSE, "qty": 1}]}),
        )
        .await;
    assert_eq!(held.status(), axum::http::StatusCode::CREATED);
    app.stop().await;
    let ledger = check_ledger(&db.store).await.unwrap();
    assert!(ledger.is_clean(), "{ledger:?}");
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_request_gets_a_clean_answer_on_sqlite() {
    any_request_gets_a_clean_answer(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_request_gets_a_clean_answer_on_postgres() {
    let Some(db) = Db::postgres("any_request_gets_a_clean_answer_on_postgres").await else {
        return;
    };
    any_request_gets_a_clean_answer(db).await;
}
