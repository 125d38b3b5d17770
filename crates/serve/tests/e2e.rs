//! End to end: the real `serve` binary on port 0, spoken to over real HTTP; and agreement of
//! `/predict`, `/predict/batch` and `serve score` on the same rows.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn artifact_path(dataset: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../artifacts")
        .join(dataset)
        .join("model.bin")
}

/// Runs a command that must exit by itself; a server that starts instead of refusing is
/// killed after ten seconds and fails the test rather than hanging it.
fn output_within(command: &mut Command, what: &str) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            panic!("{what}: still running after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A running server that is stopped (SIGTERM, then kill) when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(model: &std::path::Path, extra: &[&str]) -> Server {
        Server::start_logging(model, extra, "info")
    }

    /// Starts the server with `RUST_LOG=log_level`.
    fn start_logging(model: &std::path::Path, extra: &[&str], log_level: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
            .arg("--model")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", "0", "--workers", "2"])
            .args(extra)
            .env("RUST_LOG", log_level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server { child, address }
    }

    /// Sends raw bytes and returns (status, headers, body).
    fn raw(&self, request: &[u8]) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head, response[split + 4..].to_vec())
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        if let Some(content_type) = content_type {
            request.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, _, bytes) = self.request(
            method,
            path,
            body.map(|_| "application/json"),
            payload.as_bytes(),
        );
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// SIGTERM and wait: the exit must be clean.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Values no log line may contain: the record's id and its measurements as sent.
const SENT_VALUES: [&str; 6] = [
    "ICU200010-X7",
    "0.6271937",
    "33.61847",
    "\"PL\": 148",
    "PL=148",
    "PL: 148",
];

#[test]
fn real_binary_serves_http_and_shuts_down_gracefully() {
    // At trace level, the most a log can say.
    let server = Server::start_logging(&artifact_path("sepsis"), &[], "trace");
    let (status, body) = server.json("GET", "/health", None);
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let record = json!({"PRG": 6, "PL": 148, "PR": 72, "SK": 35, "TS": 0, "M11": 33.61847, "BD2": 0.6271937, "Age": 50, "Insurance": 0, "ID": "ICU200010-X7"});
    let (status, body) = server.json("POST", "/predict", Some(&record));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "ICU200010-X7");
    let mut invalid = record.clone();
    invalid["PL"] = json!(148.5);
    invalid["Age"] = json!("fifty");
    let (status, _) = server.json("POST", "/predict", Some(&invalid));
    assert_eq!(status, 422);
    let (status, _) = server.json("POST", "/predict/batch", Some(&json!([record, invalid])));
    assert_eq!(status, 422);
    // A client's request id is echoed and logged; an unusable one is replaced.
    let (_, head, _) = server.raw(
        format!(
            "GET /health HTTP/1.1\r\nHost: {}\r\nX-Request-Id: trace-me-42\r\nConnection: close\r\n\r\n",
            server.address
        )
        .as_bytes(),
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-request-id: trace-me-42"),
        "{head}"
    );
    let (_, head, _) = server.raw(
        format!(
            "GET /health HTTP/1.1\r\nHost: {}\r\nX-Request-Id: has spaces\r\nConnection: close\r\n\r\n",
            server.address
        )
        .as_bytes(),
    );
    assert!(!head.contains("has spaces"), "{head}");

    // Hostile inputs: none may produce a 5xx or take the worker down.
    let hostile: Vec<(&str, &str, Option<&str>, Vec<u8>)> = vec![
        ("POST", "/predict", Some("application/json"), b"{".to_vec()),
        (
            "POST",
            "/predict",
            Some("application/json"),
            b"\xff\xfe\x00".to_vec(),
        ),
        (
            "POST",
            "/predict",
            Some("application/json"),
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec(),
        ),
        (
            "POST",
            "/predict",
            Some("application/json"),
            format!("{}1{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        ),
        (
            "POST",
            "/predict",
            Some("application/json"),
            b"{\"PL\": 1e999}".to_vec(),
        ),
        (
            "POST",
            "/predict",
            Some("application/json"),
            b"{\"PL\": NaN}".to_vec(),
        ),
        (
            "POST",
            "/predict",
            Some("application/json"),
            b"{\"PL\": -0.0, \"PRG\": 18446744073709551616}".to_vec(),
        ),
        (
            "POST",
            "/predict/batch",
            Some("application/json"),
            b"{}".to_vec(),
        ),
        (
            "POST",
            "/predict",
            Some("application/xml"),
            b"<a/>".to_vec(),
        ),
        ("POST", "/predict", None, b"{}".to_vec()),
        ("PUT", "/predict", Some("application/json"), b"{}".to_vec()),
        ("GET", "/../../etc/passwd", None, Vec::new()),
        ("GET", "/docs/../../Cargo.toml", None, Vec::new()),
        (
            "POST",
            "/predict",
            Some("application/json"),
            vec![b' '; 5 * 1024 * 1024],
        ),
    ];
    for (method, path, content_type, body) in hostile {
        let (status, _, _) = server.request(method, path, content_type, &body);
        assert!(
            (400..500).contains(&status),
            "{method} {path}: status {status}"
        );
    }
    // Still serving after all of that.
    let (status, _) = server.json("POST", "/predict", Some(&record));
    assert_eq!(status, 200);

    let (status, log) = server.stop();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(
        log.contains("status=200") && log.contains("method=POST") && log.contains("latency_ms="),
        "{log}"
    );
    assert!(log.contains("request_id=trace-me-42"), "{log}");
    // Patient data never reaches the log, at any level.
    for line in log.lines() {
        for value in SENT_VALUES {
            assert!(!line.contains(value), "a log line holds `{value}`: {line}");
        }
    }
    // Request lines carry exactly these fields.
    for line in log.lines().filter(|line| line.contains(" request ")) {
        let keys: Vec<&str> = line
            .split_whitespace()
            .filter_map(|word| word.split_once('=').map(|(key, _)| key))
            .collect();
        assert_eq!(
            keys,
            ["request_id", "method", "route", "status", "latency_ms"],
            "{line}"
        );
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let server = Server::start_logging(
        &artifact_path("sepsis"),
        &["--log-format", "json", "--log-summary", "1"],
        "debug",
    );
    let (status, _) = server.json("GET", "/health", None);
    assert_eq!(status, 200);
    // Long enough for one summary line.
    std::thread::sleep(Duration::from_millis(2300));
    let (status, log) = server.stop();
    assert!(status.success());
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["fields"]["route"] == "/health"
            && line["fields"]["status"] == 200
            && line["level"] == "DEBUG"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["requests"] == 1 && line["level"] == "INFO"),
        "no summary line: {log}"
    );
}

#[test]
fn refuses_to_start_on_a_bad_artifact_with_one_line() {
    let folder = tempfile::tempdir().unwrap();
    let good = std::fs::read(artifact_path("sepsis")).unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let mut other_version = good.clone();
    // An artifact of the previous format (version 1) is refused, naming both versions.
    other_version[8] = 1;
    let version_message = format!(
        "format version 1, this build reads version {}",
        model::artifact::FORMAT_VERSION
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.bin",
            good[..good.len() / 3].to_vec(),
            "truncated",
        ),
        ("flipped.bin", flipped, "corrupted"),
        ("version.bin", other_version, &version_message),
        ("text.bin", b"hello".to_vec(), "not a vigil model artifact"),
        ("empty.bin", Vec::new(), "not a vigil model artifact"),
    ];
    for (name, bytes, expected) in cases {
        let path = folder.path().join(name);
        std::fs::write(&path, bytes).unwrap();

        let output = output_within(
            Command::new(env!("CARGO_BIN_EXE_serve"))
                .arg("--model")
                .arg(&path)
                .args(["--port", "0"]),
            name,
        );
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let error_lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect();
        assert_eq!(error_lines.len(), 1, "{name}: {stderr}");
        assert!(
            error_lines[0].contains(expected) && error_lines[0].contains(name),
            "{name}: {stderr}"
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["--model", "/no/such/model.bin", "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/no/such/model.bin"));
    // Not regular files: a device that never ends and a folder.
    for path in ["/dev/zero", "/tmp"] {
        let output = output_within(
            Command::new(env!("CARGO_BIN_EXE_serve")).args(["--model", path, "--port", "0"]),
            path,
        );
        assert!(!output.status.success(), "{path}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not a regular file"), "{path}: {stderr}");
    }
    // A card from another run beside the artifact.
    let pair = folder.path().join("pair");
    std::fs::create_dir_all(&pair).unwrap();
    std::fs::write(pair.join("model.bin"), &good).unwrap();
    std::fs::write(
        pair.join("model.json"),
        r#"{"artifact_sha256": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}"#,
    )
    .unwrap();
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_serve"))
            .arg("--model")
            .arg(pair.join("model.bin"))
            .args(["--port", "0"]),
        "mismatched card",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("describes another artifact"), "{stderr}");
}

/// Rows written by hand in the sepsis layout, with a BOM and CR-only line endings like the
/// real unlabelled file, one missing value and one configured zero.
const ROWS: &str = "\u{feff}ID,PRG,PL,PR,SK,TS,M11,BD2,Age,Insurance\rP1,6,148,72,35,0,33.6,0.627,50,0\rP2,1,85,66,29,0,26.6,0.351,31,0\rP3,8,183,64,,0,23.3,0.672,32,1\rP4,0,137,40,35,168,43.1,2.288,33,1\rP5,3,78,50,32,88,31,0.248,26,1\r";

#[test]
fn predict_batch_and_score_agree_exactly() {
    let folder = tempfile::tempdir().unwrap();
    let input = folder.path().join("rows.csv");
    std::fs::write(&input, ROWS).unwrap();
    let output = folder.path().join("scores.csv");
    assert!(score_file(&input, &output).status.success());
    let scored = std::fs::read_to_string(&output).unwrap();
    let mut lines = scored.lines();
    assert_eq!(
        lines.next(),
        Some("ID,probability_Negative,probability_Positive,label,imputed,out_of_training_range")
    );
    let scored: Vec<Vec<String>> = lines
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(scored.len(), 5);

    let header: Vec<&str> = ROWS
        .trim_start_matches('\u{feff}')
        .split('\r')
        .next()
        .unwrap()
        .split(',')
        .collect();
    let records: Vec<Value> = ROWS
        .split('\r')
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut record = serde_json::Map::new();
            for (name, cell) in header.iter().zip(line.split(',')) {
                let value = if *name == "ID" {
                    json!(cell)
                } else if cell.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str::<Value>(cell).unwrap()
                };
                record.insert((*name).to_owned(), value);
            }
            Value::Object(record)
        })
        .collect();
    let server = Server::start(&artifact_path("sepsis"), &[]);
    let (status, batch) = server.json(
        "POST",
        "/predict/batch",
        Some(&Value::Array(records.clone())),
    );
    assert_eq!(status, 200, "{batch}");
    for (row_idx, record) in records.iter().enumerate() {
        let (status, single) = server.json("POST", "/predict", Some(record));
        assert_eq!(status, 200);
        assert_eq!(
            single, batch[row_idx],
            "row {row_idx}: /predict and /predict/batch"
        );
        let negative: f64 = scored[row_idx][1].parse().unwrap();
        let positive: f64 = scored[row_idx][2].parse().unwrap();
        assert_eq!(scored[row_idx][0], single["id"].as_str().unwrap());
        assert_eq!(
            negative,
            single["probabilities"]["Negative"].as_f64().unwrap(),
            "row {row_idx}: score vs /predict"
        );
        assert_eq!(
            positive,
            single["probabilities"]["Positive"].as_f64().unwrap(),
            "row {row_idx}: score vs /predict"
        );
        assert_eq!(scored[row_idx][3], single["label"].as_str().unwrap());
        let names = |field: &str| {
            single[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|name| name.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(";")
        };
        assert_eq!(scored[row_idx][4], names("imputed"), "row {row_idx}");
        assert_eq!(scored[row_idx][5], names("out_of_training_range"));
    }
    // The rows hold a missing SK and zeros meaning "not measured": they are said to be imputed.
    assert_eq!(scored[2][4], "SK;TS");
    assert!(scored.iter().any(|row| row[4].contains("TS")), "{scored:?}");
    server.stop();
}

#[test]
fn score_names_the_line_and_column_of_a_bad_row_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let input = folder.path().join("bad.csv");
    std::fs::write(&input, ROWS.replace("P3,8,183", "P3,8,1x3")).unwrap();
    let output = folder.path().join("scores.csv");
    let result = score_file(&input, &output);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("line 4")
            && stderr.contains("column `PL`")
            && stderr.contains("expected a number")
            && !stderr.contains("1x3"),
        "{stderr}"
    );
    let shown = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["score", "--show-values", "--model"])
        .arg(artifact_path("sepsis"))
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stderr).contains("invalid value `1x3`"));
    assert!(!output.exists(), "no partial output");
    // A repeated column is refused, as the training loader refuses it.
    std::fs::write(&input, ROWS.replacen("SK,TS", "SK,PL", 1)).unwrap();
    let result = score_file(&input, &output);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("line 1: column `PL` appears twice (columns 3 and 6)"),
        "{stderr}"
    );
    assert!(!output.exists());
    // A stray quote makes one field of the following lines: refused at the line it opens,
    // whether the field count then breaks or, as in the second file, happens to hold.
    for (stray, expected) in [
        ("\"P3,8,183", "line 4: 1 fields, expected 10"),
        ("\"P3\rP3b\",8,183", "line 4: a quoted field spans lines"),
    ] {
        std::fs::write(&input, ROWS.replace("P3,8,183", stray)).unwrap();
        let result = score_file(&input, &output);
        assert!(!result.status.success());
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
    assert!(!output.exists());
    assert_eq!(
        std::fs::read_dir(folder.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
}

/// Runs `serve score` with sepsis from `input` into `output`.
fn score_file(input: &std::path::Path, output: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["score", "--model"])
        .arg(artifact_path("sepsis"))
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .unwrap()
}

/// Runs `serve score` with sepsis, `args`, and `input` on standard input.
fn score_stdin(args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["score", "--model"])
        .arg(artifact_path("sepsis"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn score_reads_standard_input_and_writes_standard_output_for_a_dash() {
    let scored_to = |args: &[&str]| {
        let output = score_stdin(args, ROWS);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let with_dashes = scored_to(&["--input", "-", "--output", "-"]);
    assert_eq!(with_dashes.lines().count(), 6, "{with_dashes}");
    assert!(with_dashes.starts_with(
        "ID,probability_Negative,probability_Positive,label,imputed,out_of_training_range\n"
    ));
    assert_eq!(
        scored_to(&["--input", "-"]),
        with_dashes,
        "no --output is standard output"
    );
    // A bad row read from standard input is located there.
    let output = score_stdin(&["--input", "-"], &ROWS.replace("P3,8,183", "P3,8,1x3"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`standard input` line 4, column `PL`"),
        "{stderr}"
    );
}

#[test]
fn slow_clients_get_408_and_lose_their_connection() {
    let server = Server::start(
        &artifact_path("sepsis"),
        &["--request-timeout", "1", "--body-timeout", "1"],
    );
    // A head that declares a body which never comes.
    let started = std::time::Instant::now();
    let (status, head, _) = server.raw(
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{\"PL\"",
    );
    assert_eq!(status, 408, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A head that never ends: actix answers 408 and closes; `raw` reads to the end, so
    // returning at all shows the connection was closed.
    let started = std::time::Instant::now();
    let (status, _, _) = server.raw(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    assert_eq!(status, 408);
    // On loopback the server answers to loopback names only (no DNS rebinding).
    let (status, _, _) =
        server.raw(b"GET /health HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n");
    assert_eq!(status, 400);
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = server.json("GET", "/health", None);
    assert_eq!(status, 200);
    let (exit, _) = server.stop();
    assert!(exit.success());
}

#[test]
fn shards_concatenated_equal_one_unsharded_run() {
    let folder = tempfile::tempdir().unwrap();
    let input = folder.path().join("rows.csv");
    // 23 rows: shards of 5 or 6 rows, none of the same size as another's boundary.
    let lines: Vec<&str> = ROWS
        .trim_start_matches('\u{feff}')
        .split('\r')
        .filter(|line| !line.is_empty())
        .collect();
    let mut text = format!("{}\n", lines[0]);
    for idx in 0..23 {
        text.push_str(&lines[1 + idx % (lines.len() - 1)].replacen('P', &format!("R{idx}-"), 1));
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let whole = folder.path().join("whole.csv");
    assert!(score_file(&input, &whole).status.success());
    let mut joined = Vec::new();
    for index in 0..4 {
        let part = folder.path().join(format!("part-{index}.csv"));
        let output = Command::new(env!("CARGO_BIN_EXE_serve"))
            .args(["score", "--model"])
            .arg(artifact_path("sepsis"))
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(&part)
            .args(["--shard", &format!("{index}/4")])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        joined.extend(std::fs::read(&part).unwrap());
    }
    assert_eq!(
        String::from_utf8(joined).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["score", "--shard", "4/4", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`4/4` is not a shard"));
}
