//! Failure notices: always logged; optionally POSTed as JSON to an `http://` webhook and/or
//! handed to a command (environment variables plus the JSON on stdin). A notice that cannot
//! be delivered is logged; it never changes the run's recorded outcome.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::NotifySettings;

/// Bound on the webhook response we read (only the status line matters).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why a notice did not reach a webhook or a command.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("only http:// webhooks are supported")]
    NotHttp,
    #[error("bad port in {0}")]
    BadPort(String),
    #[error("no host")]
    NoHost,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("not an HTTP answer: '{0}'")]
    NotAnAnswer(String),
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

/// Splits `http://host[:port][/path]` into (host, port, path).
fn parse_http_url(url: &str) -> Result<(String, u16, String), DeliveryError> {
    let rest = url.strip_prefix("http://").ok_or(DeliveryError::NotHttp)?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], rest[slash..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.parse()
                .map_err(|_| DeliveryError::BadPort(authority.to_string()))?,
        ),
        None => (authority.to_string(), 80),
    };
    if host.is_empty() {
        return Err(DeliveryError::NoHost);
    }
    Ok((host, port, path))
}

async fn post_json(url: &str, body: &str) -> Result<(), DeliveryError> {
    let (host, port, path) = parse_http_url(url)?;
    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: stockcast\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    while response.len() < MAX_RESPONSE_BYTES {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..read]);
        if response.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or("");
    let code: Option<u16> = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok());
    match code {
        Some(code) if (200..300).contains(&code) => Ok(()),
        Some(code) => Err(DeliveryError::Status(code)),
        None => Err(DeliveryError::NotAnAnswer(status_line.to_string())),
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
    use super::parse_http_url;

    #[test]
    fn webhook_urls_are_split() {
        assert_eq!(
            parse_http_url("http://127.0.0.1:9000/hooks/x").unwrap(),
            ("127.0.0.1".to_string(), 9000, "/hooks/x".to_string())
        );
        assert_eq!(
            parse_http_url("http://alerts.local").unwrap(),
            ("alerts.local".to_string(), 80, "/".to_string())
        );
        assert!(parse_http_url("https://x").is_err());
    }
}
