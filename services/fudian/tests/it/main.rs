//! End-to-end tests of the `fudian` binary as an operator runs it: embedded by default,
//! and on the real RabbitMQ and PostgreSQL when their URLs are set.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

fn start(envs: &[(&str, String)]) -> Running {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fudian"));
    command
        .arg("up")
        .env("FUDIAN_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("FUDIAN_DATA_DIR", data.path())
        .env_remove("FUDIAN_AMQP_URL")
        .env_remove("FUDIAN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let child = command.spawn().unwrap();
    let running = Running {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    wait_ready(&running.base);
    running
}

/// A minimal HTTP/1.1 GET over a TCP stream, so the test needs no HTTP client crate.
fn get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some((200, _)) = get(&format!("{base}/readyz")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("fudian did not become ready at {base}");
}

fn stop(running: Running) -> String {
    let pid = running.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let output = running.child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "fudian exited with {:?}: {logs}",
        output.status
    );
    logs
}

#[test]
fn up_with_no_configuration_runs_embedded_on_the_sample_grid_and_stops_cleanly_on_sigterm() {
    let running = start(&[]);
    let (status, body) = get(&format!("{}/v1/grid", running.base)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"customers\":147"), "{body}");
    assert_eq!(get(&format!("{}/healthz", running.base)).unwrap().0, 200);
    let (status, body) = get(&format!("{}/v1/incidents", running.base)).unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"items":[]}"#));
    let (status, metrics) = get(&format!("{}/metrics", running.base)).unwrap();
    assert_eq!(status, 200, "{metrics}");
    let logs = stop(running);
    assert!(logs.contains("bus: in-process"), "{logs}");
    assert!(logs.contains("store: embedded SQLite"), "{logs}");
    assert!(logs.contains("fudian stopped cleanly"), "{logs}");
}

/// A minimal HTTP/1.1 POST of a JSON body.
fn post(url: &str, json: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Polls `url` until `accept` finds what it wants in the JSON body.
fn poll<T>(url: &str, mut accept: impl FnMut(&serde_json::Value) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, body)) = get(url)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
            && let Some(found) = accept(&json)
        {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} never answered what was expected"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn up_runs_every_service_and_an_opened_breaker_becomes_an_incident_a_work_order_and_notices() {
    let running = start(&[]);
    let (status, body) = post(
        &format!("{}/v1/switching", running.base),
        r#"{"device":"S99","state":"open"}"#,
    )
    .unwrap();
    assert!(status == 202 || status == 200, "{status} {body}");
    let incident = poll(&format!("{}/v1/incidents", running.base), |json| {
        json["items"][0]["id"].as_str().map(str::to_owned)
    });
    let order = poll(
        &format!("{}/v1/workorders?incident={incident}", running.base),
        |json| {
            let order = json["items"].get(0).or_else(|| json.get(0))?;
            order["crew"].as_str().map(|_| order.clone())
        },
    );
    assert_eq!(
        order["incident"].as_str(),
        Some(incident.as_str()),
        "{order}"
    );
    // Notify told the customers out, unasked (the local sink: no provider configured).
    let customer = poll(
        &format!("{}/v1/incidents/{incident}/customers", running.base),
        |json| json["items"][0]["id"].as_str().map(str::to_owned),
    );
    let notice = poll(
        &format!("{}/v1/notices?customer={customer}", running.base),
        |json| {
            json["items"]
                .as_array()?
                .iter()
                .find(|n| n["kind"] == "outage_detected" && n["state"] == "sent")
                .cloned()
        },
    );
    assert!(notice["provider"].is_null(), "{notice}");
    assert!(
        notice["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{notice}"
    );
    let (status, body) = get(&format!("{}/v1/planned/jobs", running.base)).unwrap();
    assert_eq!(status, 200, "{body}");
    let logs = stop(running);
    assert!(logs.contains("fudian stopped cleanly"), "{logs}");
}

#[test]
fn up_with_amqp_and_database_urls_runs_on_rabbitmq_and_postgresql() {
    let amqp = std::env::var("FUDIAN_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let admin = std::env::var("FUDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    // A database of its own: the shared one keeps whatever earlier runs migrated.
    let name = format!(
        "fudian_up_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let head = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(head, _)| head);
    let database = format!("{head}/{name}");
    let sql = |statement: String| {
        let admin = admin.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&statement)
                    .execute(&mut connection)
                    .await
                    .unwrap();
            });
    };
    sql(format!("CREATE DATABASE {name}"));
    let running = start(&[("FUDIAN_AMQP_URL", amqp), ("FUDIAN_DATABASE_URL", database)]);
    let (status, body) = get(&format!("{}/readyz", running.base)).unwrap();
    assert_eq!((status, body.as_str()), (200, "ready"));
    let logs = stop(running);
    sql(format!("DROP DATABASE {name} WITH (FORCE)"));
    assert!(logs.contains("bus: RabbitMQ"), "{logs}");
    assert!(logs.contains("store: PostgreSQL"), "{logs}");
}

#[test]
fn a_bad_configuration_value_stops_fudian_with_the_key_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_fudian"))
        .arg("up")
        .env("FUDIAN_BUS__PREFETCH", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(stderr.contains("bus.prefetch"), "{stderr}");
}
