//! Failure notices: always logged; optionally POSTed as JSON to an `http://` webhook and/or
//! handed to a command (environment variables plus the JSON on stdin). A notice that cannot
//! be delivered is logged; it never changes the run's recorded outcome.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::io::AsyncWriteExt;

use super::NotifySettings;

/// Why a notice did not reach a webhook or a command.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("only http:// webhooks are supported")]
    NotHttp,
    #[error("not a URL: {0}")]
    BadUrl(String),
    #[error("no host")]
    NoHost,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("exited with {0}")]
    Exited(std::process::ExitStatus),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureNotice {
    pub job: String,
    pub run_id: String,
    pub as_of: NaiveDate,
    pub status: String,
    pub step: String,
    pub error: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// Where the notice went: "log", "webhook", "command"; failures to deliver are listed too.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NoticeDelivery {
    pub delivered: Vec<String>,
    pub failed: Vec<String>,
}

pub async fn send_failure_notice(
    settings: &NotifySettings,
    notice: &FailureNotice,
) -> NoticeDelivery {
    tracing::error!(
        job = %notice.job,
        run = %notice.run_id,
        as_of = %notice.as_of,
        step = %notice.step,
        "job run {}: {}",
        notice.status,
        notice.error
    );
    let mut delivery = NoticeDelivery {
        delivered: vec!["log".to_string()],
        failed: Vec::new(),
    };
    let timeout = Duration::from_secs(settings.timeout_seconds.clamp(1, 300));
    let body = serde_json::to_string(notice).expect("notice serialises");
    if let Some(url) = &settings.webhook {
        match tokio::time::timeout(timeout, post_json(url, &body)).await {
            Ok(Ok(())) => delivery.delivered.push("webhook".to_string()),
            Ok(Err(error)) => delivery.failed.push(format!("webhook {url}: {error}")),
            Err(_) => delivery
                .failed
                .push(format!("webhook {url}: no answer within {timeout:?}")),
        }
    }
    if let Some(command) = &settings.command {
        match tokio::time::timeout(timeout, run_command(command, notice, &body)).await {
            Ok(Ok(())) => delivery.delivered.push("command".to_string()),
            Ok(Err(error)) => delivery
                .failed
                .push(format!("command {}: {error}", command[0])),
            Err(_) => delivery.failed.push(format!(
                "command {}: still running after {timeout:?} (killed)",
                command[0]
            )),
        }
    }
    for problem in &delivery.failed {
        tracing::error!(job = %notice.job, "failure notice not delivered: {problem}");
    }
    delivery
}

/// The webhook's URL: `http://host[:port][/path]` (job files are checked for `http://` when
/// they load; this holds the sender to the same rule).
fn webhook_url(url: &str) -> Result<reqwest::Url, DeliveryError> {
    if !url.starts_with("http://") {
        return Err(DeliveryError::NotHttp);
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|error| DeliveryError::BadUrl(error.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(DeliveryError::NoHost);
    }
    Ok(parsed)
}

async fn post_json(url: &str, body: &str) -> Result<(), DeliveryError> {
    let url = webhook_url(url)?;
    let client = reqwest::Client::builder()
        // A notice goes straight to the URL the job names (an alerting endpoint, usually on the
        // internal network), never through a proxy set for downloads.
        .no_proxy()
        // http:// only: no certificate store to load, so a broken one cannot stop a notice.
        .tls_built_in_root_certs(false)
        // Header names as most receivers print and match them (`Content-Type`).
        .http1_title_case_headers()
        .user_agent("stockcast")
        .build()?;
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await?;
    // Only the status matters; the body is never read.
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status(status.as_u16()))
    }
}

async fn run_command(
    command: &[String],
    notice: &FailureNotice,
    body: &str,
) -> Result<(), DeliveryError> {
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env("STOCKCAST_JOB", &notice.job)
        .env("STOCKCAST_RUN_ID", &notice.run_id)
        .env("STOCKCAST_AS_OF", notice.as_of.to_string())
        .env("STOCKCAST_STEP", &notice.step)
        .env("STOCKCAST_ERROR", &notice.error)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that ignores stdin may close it early; that is not a failure.
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    let status = child.wait().await?;
    if status.success() {
        Ok(())
    } else {
        Err(DeliveryError::Exited(status))
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_url;

    #[test]
    fn webhook_urls_are_split() {
        let url = webhook_url("http://127.0.0.1:9000/hooks/x").unwrap();
        assert_eq!(
            (
                url.host_str().unwrap(),
                url.port_or_known_default().unwrap(),
                url.path()
            ),
            ("127.0.0.1", 9000, "/hooks/x")
        );
        let url = webhook_url("http://alerts.local").unwrap();
        assert_eq!(
            (
                url.host_str().unwrap(),
                url.port_or_known_default().unwrap(),
                url.path()
            ),
            ("alerts.local", 80, "/")
        );
        assert!(webhook_url("https://x").is_err());
    }
}
