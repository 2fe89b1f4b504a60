//! What the reliability tests share: the seeds' queries and what they cost, how an answer is
//! judged, an in-process load generator, and PostgreSQL and Redis of their own.

// Each test binary uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod drive;
pub mod postgres;

pub use drive::{Cancel, Load, Plan, Sample, draw, drive, drive_all};

use std::time::Duration;

use coalesce_demo::{App, server};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One query of the mix, and what it costs batched without a shared cache (the demo README's
/// table).
pub struct Case {
    pub query: &'static str,
    /// The `x-user-id` header, if any.
    pub viewer: Option<&'static str>,
    pub sql_queries: u64,
}

/// The seeds' queries, sent in turn.
pub const MIX: [Case; 4] = [
    Case {
        query: "{ messages { id message poster { id name } } }",
        viewer: None,
        sql_queries: 2,
    },
    Case {
        query: "{ bands { name albums { title } } }",
        viewer: None,
        sql_queries: 2,
    },
    Case {
        query: "{ me { bestFriend { name } friends(first: 5) { bestFriend { name } } } }",
        viewer: Some("1"),
        sql_queries: 4,
    },
    Case {
        query: "{ first: user(id: 1) { id } second: user(id: 2) { id } }",
        viewer: None,
        sql_queries: 1,
    },
];

/// How a response's `sqlQueries` must compare with its case's.
#[derive(Clone, Copy, Debug)]
pub enum Cost {
    /// Exactly the case's: each request has its own loaders and nothing else.
    Exact,
    /// At most the case's: a shared cache may answer some keys instead of the database.
    AtMost,
}

/// Serves `app` on an ephemeral loopback port until the test ends; returns its base URL.
pub async fn spawn(app: App) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(server::serve(listener, app, std::future::pending()));
    url
}

/// A client for loopback servers only: no proxy, and a generous bound on every request, so that
/// a stuck request shows up as a failure instead of hanging the test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// A response: its HTTP status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn sql_queries(&self) -> Option<u64> {
        self.body["extensions"]["sqlQueries"].as_u64()
    }

    /// The messages of the response's errors; empty when there are none.
    pub fn errors(&self) -> Vec<&str> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["message"]
                            .as_str()
                            .unwrap_or("<an error without a message>")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// POSTs `case` to the server at `url`. `Err` when there is no response with a JSON body: the
/// connection failed, the request timed out, or the body is empty or not JSON.
pub async fn send(client: &reqwest::Client, url: &str, case: &Case) -> Result<Reply, String> {
    let mut request = client
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": case.query }));
    if let Some(viewer) = case.viewer {
        request = request.header(server::USER_HEADER, viewer);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("no response: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| format!("status {status}, the body could not be read: {e}"))?;
    let body = serde_json::from_str(&text)
        .map_err(|e| format!("status {status}, the body is not JSON ({e}): {text:?}"))?;
    Ok(Reply { status, body })
}

/// The data each case of [`MIX`] answers on the server at `url`, asked once each, after checking
/// that it answers without errors and at the README's cost.
pub async fn reference(url: &str) -> Vec<Value> {
    let client = client();
    let mut data = Vec::new();
    for case in &MIX {
        let reply = send(&client, url, case).await.expect("a response");
        assert_eq!(reply.status, 200, "{}: {}", case.query, reply.body);
        assert!(reply.errors().is_empty(), "{}: {}", case.query, reply.body);
        assert_eq!(
            reply.sql_queries(),
            Some(case.sql_queries),
            "{}",
            case.query
        );
        data.push(reply.data().clone());
    }
    data
}

/// What a load expects of every response: the data of each case of [`MIX`] and its cost.
pub struct Expected {
    pub data: Vec<Value>,
    pub cost: Cost,
}

/// Why a response is not the right answer.
#[derive(Debug)]
pub enum Failure {
    /// No response with a JSON body: the connection failed, the request timed out, or the body
    /// is empty or not JSON.
    Broken(String),
    /// A GraphQL response with errors, or with a status other than 200.
    Errors { status: u16, messages: Vec<String> },
    /// A 200 without errors, but with the wrong data or cost.
    Wrong(String),
}

impl Failure {
    /// Judges `reply` to `case` against `expected`; `None` when it is right.
    pub fn of(case: usize, reply: Result<Reply, String>, expected: &Expected) -> Option<Failure> {
        let reply = match reply {
            Ok(reply) => reply,
            Err(why) => return Some(Failure::Broken(why)),
        };
        if reply.status != 200 || !reply.errors().is_empty() {
            let messages = reply.errors().into_iter().map(str::to_owned).collect();
            return Some(Failure::Errors {
                status: reply.status,
                messages,
            });
        }
        let sql = reply.sql_queries().unwrap_or(u64::MAX);
        let allowed = MIX[case].sql_queries;
        let cost_ok = match expected.cost {
            Cost::Exact => sql == allowed,
            Cost::AtMost => sql <= allowed,
        };
        if reply.data() != &expected.data[case] {
            Some(Failure::Wrong(format!("wrong data {}", reply.data())))
        } else if !cost_ok {
            Some(Failure::Wrong(format!(
                "sqlQueries {sql}, expected {:?} {allowed}",
                expected.cost
            )))
        } else {
            None
        }
    }
}

/// Prints the latency percentiles of `samples` and their rate over `wall`. Figures to read, not
/// to assert: they depend on the machine.
pub fn print_latency<'a>(
    label: &str,
    samples: impl IntoIterator<Item = &'a Sample>,
    wall: Duration,
) {
    let mut latencies: Vec<Duration> = samples.into_iter().map(Sample::latency).collect();
    if latencies.is_empty() {
        println!("{label}: no requests");
        return;
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label}: {} requests in {:.2} s, {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap()),
    );
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// This process's resident memory, in KiB (`VmRSS` of /proc/self/status), once the allocator has
/// handed its free memory back to the system, so that the figure is what the process holds
/// rather than what glibc keeps cached, which swings by megabytes from one reading to the next.
pub fn resident_kib() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// glibc's: releases free memory at the top of the heap and in the middle of its
            /// arenas; always safe to call.
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointer and only returns unused pages to the system.
        unsafe { malloc_trim(0) };
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in /proc/self/status")
}

pub use coalesce_testkit::free_port;

/// A name no other run uses: this process and the time.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}
