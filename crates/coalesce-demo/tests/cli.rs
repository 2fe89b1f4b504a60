//! The `coalesce-demo` command as a newcomer runs it.

use std::process::{Command, Output};

use serde_json::Value;

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
