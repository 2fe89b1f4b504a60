//! What the reliability tests share: the seeds' queries and what they cost, an in-process load
//! generator, and private PostgreSQL and Redis servers.

// Each test binary uses a part of it.
#![allow(dead_code)]

pub mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coalesce_demo::{App, server};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

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

/// One request of a load, kept small so that a long load's own bookkeeping does not weigh on
/// the memory it measures: 24 bytes each, 470 KiB for 20 000 requests.
#[derive(Debug)]
pub struct Sample {
    /// Its index in [`MIX`].
    pub case: u8,
    /// The response's `sqlQueries`; `u8::MAX` without one.
    pub sql_queries: u8,
    /// When it was sent and answered, in microseconds from the start of the load.
    pub sent_us: u32,
    pub answered_us: u32,
    /// `None` when it was answered right.
    pub failure: Option<Box<Failure>>,
}

impl Sample {
    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.answered_us - self.sent_us))
    }

    /// What its query costs without a shared cache.
    pub fn full_cost(&self) -> u64 {
        MIX[usize::from(self.case)].sql_queries
    }
}

/// Every request of a load.
pub struct Load {
    /// The instant the samples' times count from.
    pub start: Instant,
    /// Each worker's requests, left apart: merging them would allocate in the middle of a memory
    /// measurement.
    per_worker: Vec<Vec<Sample>>,
}

impl Load {
    /// Every request, in no particular order.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.per_worker.iter().flatten()
    }

    /// The requests `keep` selects.
    pub fn select(&self, keep: impl Fn(&Sample) -> bool) -> Vec<&Sample> {
        self.samples().filter(|s| keep(s)).collect()
    }

    pub fn len(&self) -> usize {
        self.per_worker.iter().map(Vec::len).sum()
    }

    pub fn sent(&self, sample: &Sample) -> Instant {
        self.start + Duration::from_micros(sample.sent_us.into())
    }

    pub fn answered(&self, sample: &Sample) -> Instant {
        self.start + Duration::from_micros(sample.answered_us.into())
    }

    /// A description of each failed request, for an assertion message.
    pub fn failures(&self) -> Vec<String> {
        self.samples()
            .filter_map(|s| {
                let failure = s.failure.as_ref()?;
                Some(format!("{}: {failure:?}", MIX[usize::from(s.case)].query))
            })
            .collect()
    }
}

/// Sends the queries of [`MIX`] in turn to `url` from `concurrency` tasks, each sending its next
/// request as soon as the last one is answered, until `budget` requests have been sent or `stop`
/// says so, and judges each answer against `expected`. `answered` counts the answered requests
/// as they come, for a test that acts in the middle of a load.
pub async fn drive(
    client: &reqwest::Client,
    url: &str,
    expected: Arc<Expected>,
    concurrency: usize,
    budget: usize,
    stop: watch::Receiver<bool>,
    answered: Option<watch::Sender<usize>>,
) -> Load {
    let start = Instant::now();
    let micros = move |at: Instant| u32::try_from((at - start).as_micros()).unwrap_or(u32::MAX);
    let next = Arc::new(AtomicUsize::new(0));
    let answered = answered.map(Arc::new);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, expected, next, stop, answered) = (
                client.clone(),
                url.to_owned(),
                expected.clone(),
                next.clone(),
                stop.clone(),
                answered.clone(),
            );
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(budget.min(100_000) / concurrency + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= budget || *stop.borrow() {
                        return samples;
                    }
                    let case = i % MIX.len();
                    let sent = Instant::now();
                    let reply = send(&client, &url, &MIX[case]).await;
                    let answered_at = Instant::now();
                    let sql_queries = reply
                        .as_ref()
                        .ok()
                        .and_then(Reply::sql_queries)
                        .map_or(u8::MAX, |n| n.min(254) as u8);
                    samples.push(Sample {
                        case: case as u8,
                        sql_queries,
                        sent_us: micros(sent),
                        answered_us: micros(answered_at),
                        failure: Failure::of(case, reply, &expected).map(Box::new),
                    });
                    if let Some(answered) = &answered {
                        answered.send_modify(|n| *n += 1);
                    }
                }
            })
        })
        .collect();
    let mut per_worker = Vec::with_capacity(concurrency);
    for worker in workers {
        per_worker.push(worker.await.expect("a load worker panicked"));
    }
    Load { start, per_worker }
}

/// A load that nothing stops but its budget.
pub async fn drive_all(
    client: &reqwest::Client,
    url: &str,
    expected: Arc<Expected>,
    concurrency: usize,
    budget: usize,
) -> Load {
    let (_keep, stop) = watch::channel(false);
    drive(client, url, expected, concurrency, budget, stop, None).await
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
