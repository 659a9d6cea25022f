//! Crash test: the real `stockcast serve` binary under load is killed with SIGKILL, restarted,
//! and every acknowledged reservation must still be there with the invariants intact.

mod reserve_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reserve_support::*;
use serde_json::json;
use stockcast::keys::{create_key, Role};
use stockcast::reservation_store::check_ledger;

fn start_server(url: &str) -> (Child, String) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("stockcast"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit-per-second",
            "1000000",
            "--rate-limit-burst",
            "1000000",
        ])
        .env("STOCKCAST_DATABASE_URL", url)
        .env_remove("STOCKCAST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (child, base)
}

async fn crash_and_recover(db: Db) {
    seed(&db.store, &[("SOFA", 1_000_000), ("LAMP", 1_000_000)]).await;
    let (_, secret) = create_key(&db.store, Role::Service, "crash", start_time())
        .await
        .unwrap();
    let (mut server, base) = start_server(&db.url);
    let client = reserve_support::http::client();
    let acknowledged: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    let mut load = Vec::new();
    for worker in 0..16 {
        let (client, base, secret, acknowledged) = (
            client.clone(),
            base.clone(),
            secret.clone(),
            Arc::clone(&acknowledged),
        );
        load.push(tokio::spawn(async move {
            for attempt in 0.. {
                let body = json!({"idempotency_key": format!("w{worker}-{attempt}"), "ttl_seconds": 3600,
                    "lines": [{"sku": if attempt % 2 == 0 { "SOFA" } else { "LAMP" }, "warehouse": WAREHOUSE, "qty": 1 + attempt % 3}]});
                let sent = client.post(format!("{base}/v1/reservations")).bearer_auth(&secret).json(&body).send().await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        let reservation: serde_json::Value = response.json().await.unwrap_or_default();
                        if let Some(id) = reservation["id"].as_str() {
                            acknowledged.lock().unwrap().push((id.to_string(), body));
                        }
                    }
                    Ok(response) => panic!("unexpected status {}", response.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    for worker in load {
        worker.await.expect("load worker");
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 50,
        "the server was under load: {} acknowledged",
        acknowledged.len()
    );

    let (mut server, base) = start_server(&db.url);
    for (id, _) in &acknowledged {
        let response = client
            .get(format!("{base}/v1/reservations/{id}"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "acknowledged reservation {id} lost in the crash"
        );
        let reservation: serde_json::Value = response.json().await.unwrap();
        assert_eq!(reservation["status"], "held");
    }
    // Every client retrying after the crash gets its original reservation back (on SQLite
    // from the keys the restarted worker rebuilt from the rows), and a changed body is a 409.
    for (id, body) in &acknowledged {
        let retried = client
            .post(format!("{base}/v1/reservations"))
            .bearer_auth(&secret)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(retried.status(), 201, "retry of {id}");
        assert_eq!(retried.headers()["idempotent-replayed"], "true");
        let retried: serde_json::Value = retried.json().await.unwrap();
        assert_eq!(retried["id"], id.as_str());
    }
    let (_, body) = &acknowledged[acknowledged.len() / 2];
    let mut changed = body.clone();
    changed["lines"][0]["qty"] = json!(7);
    let reused = client
        .post(format!("{base}/v1/reservations"))
        .bearer_auth(&secret)
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 409, "same key, different body");

    // Graceful stop on SIGTERM.
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(
        server.wait().unwrap().success(),
        "SIGTERM stops the server cleanly"
    );

    let check = check_ledger(&db.store).await.unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert!(check.held_reservations >= acknowledged.len());
    let (sofa_on_hand, sofa_reserved) = row(&db.store, "SOFA").await;
    assert_eq!(sofa_on_hand, 1_000_000);
    assert!(sofa_reserved > 0);
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_reservation_on_sqlite() {
    crash_and_recover(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_reservation_on_postgres() {
    let Some(db) = Db::postgres("sigkill_loses_no_acknowledged_reservation_on_postgres").await
    else {
        return;
    };
    crash_and_recover(db).await;
}
