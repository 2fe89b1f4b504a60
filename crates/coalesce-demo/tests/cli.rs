//! The `coalesce-demo` command as a newcomer runs it. Tests that need the shared Redis read
//! `REDIS_URL` and are ignored without it.

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::{TempFile, unique};

/// Runs `coalesce-demo` with `args`, on its default in-memory database whatever the environment
/// says.
fn coalesce_demo(args: &[&str]) -> (Output, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_coalesce-demo"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("coalesce-demo runs");
    let response = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, response)
}

#[test]
fn query_subcommand_prints_the_response_with_its_sql_count() {
    let messages = "{ messages { id message poster { id name } } }";
    for (args, sql_queries) in [
        (vec!["query", messages], 2),
        (vec!["query", "--naive", messages], 21),
    ] {
        let (output, response) = coalesce_demo(&args);
        assert!(output.status.success());
        assert_eq!(response["extensions"]["sqlQueries"], sql_queries);
        assert_eq!(response["data"]["messages"].as_array().unwrap().len(), 20);
    }
}

#[test]
fn query_subcommand_resolves_me_to_the_user_option() {
    let (output, response) = coalesce_demo(&["query", "--user", "2", "{ me { name } }"]);
    assert!(output.status.success());
    assert_eq!(response["data"]["me"]["name"], "Grace Lovelace");
}

#[test]
fn query_subcommand_exits_non_zero_when_the_response_has_errors() {
    let (output, response) = coalesce_demo(&["query", "{ nope }"]);
    assert!(!output.status.success());
    assert_eq!(
        response["errors"][0]["message"],
        r#"Unknown field "nope" on type "Query"."#
    );
}

#[test]
fn serve_refuses_zero_executions_at_once_before_it_listens() {
    let output = Command::new(env!("CARGO_BIN_EXE_coalesce-demo"))
        .args(["serve", "--addr", "127.0.0.1:0", "--max-executions", "0"])
        .output()
        .expect("coalesce-demo runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value '0' for '--max-executions"),
        "{stderr}"
    );
}

const USER_1: &str = "{ user(id: 1) { name } }";

/// `coalesce-demo query --redis $REDIS_URL` on the SQLite `file`, with `options`; panics unless
/// it succeeds.
fn query_with_redis(file: &TempFile, options: &[&str], query: &str) -> (String, Value) {
    let redis = std::env::var("REDIS_URL").expect("this test needs REDIS_URL");
    let database = file.url();
    let mut args = vec!["query", "--database", &database, "--redis", &redis];
    args.extend(options);
    args.push(query);
    let (output, response) = coalesce_demo(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{response}; stderr: {stderr}");
    (stderr, response)
}

#[test]
#[ignore = "needs REDIS_URL (Redis)"]
fn query_on_two_databases_with_one_redis_never_answers_from_the_others_entries() {
    let (a, b) = (TempFile::new("a.db"), TempFile::new("b.db"));
    let (_, before) = query_with_redis(&b, &[], USER_1);
    let rename = r#"mutation { renameUser(id: 1, name: "Renamed on A") { name } }"#;
    query_with_redis(&a, &[], rename);
    for cached in [1, 0] {
        let (_, on_a) = query_with_redis(&a, &[], USER_1);
        assert_eq!(on_a["data"]["user"]["name"], "Renamed on A");
        assert_eq!(
            on_a["extensions"]["sqlQueries"], cached,
            "A caches in Redis"
        );
    }
    let (_, after) = query_with_redis(&b, &[], USER_1);
    assert_eq!(after["data"], before["data"]);
}

#[test]
#[ignore = "needs REDIS_URL (Redis)"]
fn query_with_one_cache_namespace_shares_entries_whatever_the_database() {
    let namespace = format!("cli-test-{}", unique());
    let options = ["--cache-namespace", &namespace];
    let (a, b) = (TempFile::new("a.db"), TempFile::new("b.db"));
    let (stderr, first) = query_with_redis(&a, &options, USER_1);
    assert!(
        stderr.contains(&format!("namespace {namespace}")),
        "{stderr}"
    );
    assert_eq!(first["extensions"]["sqlQueries"], 1);
    let (_, second) = query_with_redis(&b, &options, USER_1);
    assert_eq!(second["extensions"]["sqlQueries"], 0, "the user from Redis");
    assert_eq!(second["data"], first["data"]);
}

#[test]
fn query_with_redis_unreachable_names_its_namespace_warns_once_and_answers() {
    // Nothing listens on port 1.
    let messages = "{ messages { id } }";
    let (output, response) = coalesce_demo(&["query", "--redis", "redis://127.0.0.1:1", messages]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        response["data"]["messages"].as_array().map(Vec::len),
        Some(20)
    );
    assert!(
        stderr.contains("Redis cache namespace demo-"),
        "no namespace in: {stderr}"
    );
    let warnings: Vec<_> = stderr
        .lines()
        .filter(|line| line.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("Redis does not answer"), "{stderr}");
}
