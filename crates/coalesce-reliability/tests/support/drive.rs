//! The load generator: clients that send the queries of [`MIX`] in turn and judge every answer,
//! some of which give up on their requests half-way, as clients that time out or go away do.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use coalesce_demo::server;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{Case, Expected, Failure, MIX, Reply, send};

/// How a load sends its requests.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Clients, each with one request in flight at a time.
    pub concurrency: usize,
    /// The most requests the load sends.
    pub budget: usize,
    /// How many clients in a thousand cancel each of their requests at a random point.
    pub cancelling_per_mille: u64,
    /// Fixes every random choice: which clients cancel, and where each of their requests is cut.
    pub seed: u64,
    /// Whether the requests in flight when the load ends are dropped rather than awaited, as by
    /// a load generator that stops at a deadline (wrk does).
    pub ends_in_flight: bool,
    /// How long the server takes to answer, as far as the caller knows (zero if it does not):
    /// what cancelling clients scale their patience to until the load's own answers tell.
    pub latency_hint: Duration,
}

impl Plan {
    /// Clients that await every answer; the load ends once the last one is in.
    pub fn steady(concurrency: usize, budget: usize) -> Plan {
        Plan {
            concurrency,
            budget,
            cancelling_per_mille: 0,
            seed: 0,
            ends_in_flight: false,
            latency_hint: Duration::ZERO,
        }
    }

    /// One client in five (chosen by `seed`) gives up on each of its requests at a random point,
    /// and the load ends with every client's request in flight, dropped.
    pub fn cancelling(concurrency: usize, budget: usize, seed: u64) -> Plan {
        Plan {
            cancelling_per_mille: 200,
            seed,
            ends_in_flight: true,
            ..Plan::steady(concurrency, budget)
        }
    }
}

/// Of a thousand requests of a cancelling client, how many are cut before they are fully sent.
/// The others are sent whole and dropped before or after their answer comes.
const PART_SENT_PER_MILLE: u64 = 250;

/// How a request was cancelled by its client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// It sent a part of the request, cut at a random byte of its head or body, then closed the
    /// connection.
    PartSent,
    /// It sent the whole request, then closed the connection before the answer came.
    Unanswered,
    /// The request was in flight when the load ended, and dropped with the others.
    AtTheEnd,
}

/// One request of a load, kept small so that a long load's own bookkeeping does not weigh on
/// the memory it measures: 24 bytes each, 470 KiB for 20 000 requests.
#[derive(Debug)]
pub struct Sample {
    /// Its index in [`MIX`].
    pub case: u8,
    /// The response's `sqlQueries`; `u8::MAX` without one.
    pub sql_queries: u8,
    /// `Some` when the client gave up on it: then it has no answer to judge.
    pub cancelled: Option<Cancel>,
    /// When it was sent and answered (or given up on), in microseconds from the start of the
    /// load.
    pub sent_us: u32,
    pub answered_us: u32,
    /// `None` when it was answered right, or cancelled.
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
    /// An empty load to gather others into ([`Load::absorb`]), with room for `capacity`
    /// requests: allocated once, before a memory measurement, rather than a little with each
    /// load gathered.
    pub fn gathering(capacity: usize) -> Load {
        Load {
            start: Instant::now(),
            per_worker: vec![Vec::with_capacity(capacity)],
        }
    }

    /// Moves the requests of `other`, a load that started after this one, into this one.
    pub fn absorb(&mut self, other: Load) {
        let shift = u32::try_from((other.start - self.start).as_micros()).unwrap_or(u32::MAX);
        let all = &mut self.per_worker[0];
        for sample in other.per_worker.into_iter().flatten() {
            all.push(Sample {
                sent_us: sample.sent_us.saturating_add(shift),
                answered_us: sample.answered_us.saturating_add(shift),
                ..sample
            });
        }
    }

    /// Every request, in no particular order.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.per_worker.iter().flatten()
    }

    /// The requests that were not cancelled: each has an answer, judged.
    pub fn answers(&self) -> impl Iterator<Item = &Sample> {
        self.samples().filter(|s| s.cancelled.is_none())
    }

    /// The median latency of the answered requests, if any.
    pub fn median_latency(&self) -> Option<Duration> {
        let mut latencies: Vec<Duration> = self.answers().map(Sample::latency).collect();
        latencies.sort_unstable();
        latencies.get(latencies.len() / 2).copied()
    }

    /// How many requests were cancelled `how`.
    pub fn cancelled(&self, how: Cancel) -> usize {
        self.samples().filter(|s| s.cancelled == Some(how)).count()
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

/// What became of a request.
enum Outcome {
    Answered(Result<Reply, String>),
    Cancelled(Cancel),
}

/// Sends the queries of [`MIX`] in turn to `url` from `plan.concurrency` tasks, each sending its
/// next request as soon as the last one is done, until `plan.budget` requests have been sent or
/// `stop` says so, and judges each answer against `expected`. `answered` counts the answered
/// requests as they come, for a test that acts in the middle of a load.
pub async fn drive(
    client: &reqwest::Client,
    url: &str,
    expected: Arc<Expected>,
    plan: Plan,
    stop: watch::Receiver<bool>,
    answered: Option<watch::Sender<usize>>,
) -> Load {
    let start = Instant::now();
    let micros = move |at: Instant| u32::try_from((at - start).as_micros()).unwrap_or(u32::MAX);
    let next = Arc::new(AtomicUsize::new(0));
    // The latency of the latest answer, in microseconds: how long the server takes now, which is
    // what a cancelling client's random patience is scaled to.
    let hint = u64::try_from(plan.latency_hint.as_micros()).unwrap_or(u64::MAX);
    let latency = Arc::new(AtomicU64::new(hint));
    let (end, ended) = watch::channel(false);
    let end = Arc::new(end);
    let answered = answered.map(Arc::new);
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|worker| {
            let cancels = draw(plan.seed, ("cancelling client", worker), 1000)
                < plan.cancelling_per_mille;
            let (client, url, expected, next, latency, stop, answered) = (
                client.clone(),
                url.to_owned(),
                expected.clone(),
                next.clone(),
                latency.clone(),
                stop.clone(),
                answered.clone(),
            );
            let (end, ended) = (end.clone(), ended.clone());
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(plan.budget.min(100_000) / plan.concurrency + 1);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.budget || *stop.borrow() {
                        // The first client to find the load over ends it for the others, whose
                        // requests are then in flight.
                        end.send_replace(true);
                        return samples;
                    }
                    let case = i % MIX.len();
                    let sent = Instant::now();
                    let request = async {
                        if cancels {
                            give_up(&client, &url, &MIX[case], plan.seed, i, &latency).await
                        } else {
                            Outcome::Answered(send(&client, &url, &MIX[case]).await)
                        }
                    };
                    let outcome = if plan.ends_in_flight {
                        let mut ended = ended.clone();
                        tokio::select! {
                            outcome = request => outcome,
                            _ = ended.wait_for(|&ended| ended) => Outcome::Cancelled(Cancel::AtTheEnd),
                        }
                    } else {
                        request.await
                    };
                    let answered_at = Instant::now();
                    let (cancelled, sql_queries, failure) = match outcome {
                        Outcome::Cancelled(how) => (Some(how), u8::MAX, None),
                        Outcome::Answered(reply) => {
                            if reply.is_ok() {
                                let took = (answered_at - sent).as_micros();
                                latency.store(took.try_into().unwrap_or(u64::MAX), Ordering::Relaxed);
                            }
                            let sql_queries = reply
                                .as_ref()
                                .ok()
                                .and_then(Reply::sql_queries)
                                .map_or(u8::MAX, |n| n.min(254) as u8);
                            let failure = Failure::of(case, reply, &expected).map(Box::new);
                            if let Some(answered) = &answered {
                                answered.send_modify(|n| *n += 1);
                            }
                            (None, sql_queries, failure)
                        }
                    };
                    samples.push(Sample {
                        case: case as u8,
                        sql_queries,
                        cancelled,
                        sent_us: micros(sent),
                        answered_us: micros(answered_at),
                        failure,
                    });
                }
            })
        })
        .collect();
    let mut per_worker = Vec::with_capacity(plan.concurrency);
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
    plan: Plan,
) -> Load {
    let (_keep, stop) = watch::channel(false);
    drive(client, url, expected, plan, stop, None).await
}

/// Sends `case` as a cancelling client does: gives up on it at a random point, up to twice the
/// latest latency after it started, so that the server is cut off at every stage of its work
/// on a request (reading it, waiting for a connection, running a statement, writing the
/// answer), and some answers come in time. `seed` and the request's number `i` fix the draws.
async fn give_up(
    client: &reqwest::Client,
    url: &str,
    case: &Case,
    seed: u64,
    i: usize,
    latency: &AtomicU64,
) -> Outcome {
    let latest = latency.load(Ordering::Relaxed);
    if latest == 0 {
        // Nothing answered yet, so nothing to scale a patience to: this one waits for its
        // answer, and tells the others how long the server takes.
        return Outcome::Answered(send(client, url, case).await);
    }
    let most = 2 * latest + 1;
    let patience = Duration::from_micros(draw(seed, ("patience", i), most));
    if draw(seed, ("part", i), 1000) < PART_SENT_PER_MILLE {
        let host = url.strip_prefix("http://").expect("an http:// URL");
        let request = http_request(host, case);
        let cut = 1 + draw(seed, ("cut", i), request.len() as u64 - 1) as usize;
        return match send_part(host, &request[..cut], patience).await {
            Ok(()) => Outcome::Cancelled(Cancel::PartSent),
            Err(e) => Outcome::Answered(Err(format!("could not send part of a request: {e}"))),
        };
    }
    tokio::select! {
        reply = send(client, url, case) => Outcome::Answered(reply),
        () = tokio::time::sleep(patience) => Outcome::Cancelled(Cancel::Unanswered),
    }
}

/// The bytes of `case`'s POST to `host`, as [`send`] sends it. Written by hand because no HTTP
/// client sends a part of a request.
fn http_request(host: &str, case: &Case) -> Vec<u8> {
    let body = json!({ "query": case.query }).to_string();
    let viewer = case.viewer.map_or_else(String::new, |id| {
        format!("{}: {id}\r\n", server::USER_HEADER)
    });
    format!(
        "POST /graphql HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{viewer}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Opens a connection of its own to `host`, writes `part`, waits `patience` and closes it.
async fn send_part(host: &str, part: &[u8], patience: Duration) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(host).await?;
    stream.write_all(part).await?;
    tokio::time::sleep(patience).await;
    drop(stream);
    Ok(())
}

/// A pseudo-random number below `below` for `what`, fixed by `seed`.
pub fn draw(seed: u64, what: impl Hash, below: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    (seed, what).hash(&mut hasher);
    hasher.finish() % below.max(1)
}
