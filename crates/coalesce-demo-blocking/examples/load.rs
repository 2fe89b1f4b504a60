//! Requests per second of GraphQL servers at a fixed concurrency: each of `--concurrency` client
//! threads POSTs the query on a keep-alive connection of its own, and sends the next once it has
//! the answer. Every answer is checked: no errors, and the same `data` that every server gave
//! before the load began. Each server's `sqlQueries` per request is reported.
//!
//! ```sh
//! cargo run --release -p coalesce-demo-blocking                       # :8001
//! cargo run --release -p coalesce-demo                                # :8000
//! cargo run --release -p coalesce-demo-blocking --example load -- \
//!     --url http://127.0.0.1:8001/graphql --url http://127.0.0.1:8000/graphql
//! ```
//!
//! Several servers are measured in alternating rounds, so that what else the machine runs
//! weighs on each alike. Only loopback addresses are accepted.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// A GraphQL endpoint on this machine; repeat to compare servers.
    #[arg(long, required = true)]
    url: Vec<String>,
    /// The query each request sends.
    #[arg(long, default_value = "{ messages { id message poster { id name } } }")]
    query: String,
    /// Requests in flight at once: one client thread each.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds each round lasts.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Rounds per server, after one unmeasured warm-up round of a second.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    for url in &args.url {
        refuse_unless_loopback(url)?;
    }
    // The servers must agree before their speeds mean anything; every answer under load is then
    // held to this one.
    let expected = answer(
        &ureq::Agent::new_with_defaults(),
        &args.url[0],
        &args.query,
        None,
    )?;
    let expected = &expected["data"];
    let round = Duration::from_secs_f64(args.seconds);
    for url in &args.url {
        run(url, &args, expected, Duration::from_secs(1))?;
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); args.url.len()];
    for _ in 0..args.rounds {
        for (url, rates) in args.url.iter().zip(&mut rates) {
            let (requests, elapsed) = run(url, &args, expected, round)?;
            rates.push(requests as f64 / elapsed.as_secs_f64());
        }
    }
    println!(
        "{} at concurrency {}, {} rounds of {}s:",
        args.query, args.concurrency, args.rounds, args.seconds
    );
    for (url, rates) in args.url.iter().zip(&rates) {
        let sql = answer(
            &ureq::Agent::new_with_defaults(),
            url,
            &args.query,
            Some(expected),
        )?["extensions"]["sqlQueries"]
            .clone();
        let each: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        println!(
            "  {url}: {mean:.0} requests/s (rounds: {}), {sql} SQL statements per request",
            each.join(", ")
        );
    }
    Ok(())
}

/// The load must stay on this machine.
fn refuse_unless_loopback(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| format!("{url}: expected http://HOST:PORT/PATH"))?;
    let all_loopback = authority
        .to_socket_addrs()?
        .all(|addr| IpAddr::is_loopback(&addr.ip()));
    if !all_loopback {
        return Err(format!("{url} is not a loopback address").into());
    }
    Ok(())
}

/// Runs the load on `url` for `length`: the requests answered, and how long they took.
fn run(
    url: &str,
    args: &Args,
    expected: &Value,
    length: Duration,
) -> Result<(u64, Duration), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let deadline = start + length;
    let counts = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..args.concurrency)
            .map(|_| scope.spawn(|| client(url, &args.query, expected, deadline)))
            .collect();
        clients
            .into_iter()
            .map(|client| client.join().expect("a client thread"))
            .collect::<Result<Vec<u64>, String>>()
    })?;
    Ok((counts.iter().sum(), start.elapsed()))
}

/// One client: requests on one keep-alive connection until `deadline`.
fn client(url: &str, query: &str, expected: &Value, deadline: Instant) -> Result<u64, String> {
    let agent = ureq::Agent::new_with_defaults();
    let mut answered = 0;
    while Instant::now() < deadline {
        answer(&agent, url, query, Some(expected))?;
        answered += 1;
    }
    Ok(answered)
}

/// Sends one request of `query`; its body, if it ran without errors and its `data` is
/// `expected` (when given).
fn answer(
    agent: &ureq::Agent,
    url: &str,
    query: &str,
    expected: Option<&Value>,
) -> Result<Value, String> {
    let mut response = agent
        .post(url)
        .send_json(json!({ "query": query }))
        .map_err(|e| format!("{url}: {e}"))?;
    let answer: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| format!("{url}: {e}"))?;
    if let Some(errors) = answer.get("errors") {
        return Err(format!("{url}: {errors}"));
    }
    match expected {
        Some(expected) if answer["data"] != *expected => Err(format!(
            "{url} answered {}, expected {expected}",
            answer["data"]
        )),
        _ => Ok(answer),
    }
}
