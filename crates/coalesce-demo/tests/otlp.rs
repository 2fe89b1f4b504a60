//! `--otlp-endpoint`: with it, `coalesce-demo` exports its spans over OTLP to the URL given;
//! without it, nothing, even with OTEL_* variables set. The collector here is a listener of the
//! test's own that answers every request with 200 and keeps what it was sent.

use std::net::TcpListener;
use std::process::{Command, Output};

const MESSAGES: &str = "{ messages { id message poster { id name } } }";

/// Runs `coalesce-demo` with `args` and `envs`, on its default in-memory database.
fn coalesce_demo(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_coalesce-demo"))
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(envs.iter().copied())
        .output()
        .expect("coalesce-demo runs");
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A collector of the test's own, and the test that exports to it.
#[cfg(feature = "otlp")]
mod exporting {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    use super::{MESSAGES, coalesce_demo};

    /// A request a collector got: its path, `content-type` and body.
    #[derive(Debug)]
    struct Received {
        path: String,
        content_type: String,
        body: Vec<u8>,
    }

    /// Reads one HTTP/1.1 request from `reader`, or `None` at the end of the connection.
    fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let path = line.split_whitespace().nth(1)?.to_string();
        let (mut length, mut content_type) = (0, String::new());
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break; // the blank line that ends the head
            };
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "content-type" => content_type = value.trim().to_string(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some(Received {
            path,
            content_type,
            body,
        })
    }

    /// A collector on a free port, answering 200 to every request, keeping each before answering.
    fn collector() -> (String, Arc<Mutex<Vec<Received>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                while let Some(request) = read_request(&mut reader) {
                    kept.lock().unwrap().push(request);
                    let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(ok.as_bytes()).is_err() {
                        break;
                    }
                }
            }
        });
        (url, received)
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    }

    #[test]
    fn the_otlp_endpoint_flag_exports_the_request_and_batch_spans_there() {
        let (url, received) = collector();
        // The demo flushes its spans before it exits: they are all in once it has.
        let output = coalesce_demo(&["query", "--otlp-endpoint", &url, MESSAGES], &[]);
        let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(response["data"]["messages"].as_array().unwrap().len(), 20);
        let received = received.lock().unwrap();
        assert!(!received.is_empty(), "nothing was exported");
        for request in received.iter() {
            assert_eq!(request.path, "/v1/traces");
            assert_eq!(request.content_type, "application/x-protobuf");
        }
        let exported = |name| received.iter().any(|r| contains(&r.body, name));
        assert!(exported("graphql.execute"), "the request's span");
        assert!(exported("GraphQL DataLoader Batch"), "a batch span");
        assert!(exported("graphql.dataloader.batch.size"));
        assert!(exported("coalesce-demo"), "the service's name");
    }
}

#[test]
fn without_the_flag_nothing_is_exported_whatever_the_environment_says() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    coalesce_demo(
        &["query", MESSAGES],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &url),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("{url}/v1/traces"),
            ),
        ],
    );
    // The demo has exited: a connection it made would be waiting to be accepted.
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert_eq!(
        accepted.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "something connected to the OTEL_* endpoint"
    );
}

#[cfg(not(feature = "otlp"))]
#[test]
fn the_otlp_endpoint_flag_without_the_otlp_feature_says_how_to_get_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_coalesce-demo"))
        .args([
            "query",
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
            MESSAGES,
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--features otlp"), "{stderr}");
}
