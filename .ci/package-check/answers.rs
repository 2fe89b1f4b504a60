//! The README's server, started as its user starts it, answers the messages query with two
//! statements: the messages, and one batch for all their posters.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

#[tokio::test]
async fn the_readme_server_answers_the_messages_query_with_two_statements() {
    let dir = tempdir();
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_readme-server"))
            .current_dir(&dir)
            .spawn()
            .expect("the server starts"),
    );
    let client = reqwest::Client::new();
    let query = serde_json::json!({ "query": "{ messages { text poster { name } } }" });
    let started = Instant::now();
    let body: serde_json::Value = loop {
        match client.post("http://127.0.0.1:8000/graphql").json(&query).send().await {
            Ok(response) => break response.json().await.expect("a JSON body"),
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await // still starting
            }
            Err(e) => panic!("the server never answered: {e}"),
        }
    };
    assert!(body.get("errors").is_none(), "{body}");
    let messages = body["data"]["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 20, "{body}");
    for (i, message) in messages.iter().enumerate() {
        let poster = i % 10 + 1;
        assert_eq!(message["text"], format!("message {}", i + 1));
        assert_eq!(message["poster"]["name"], format!("user {poster}"));
    }
    // One statement for the messages, one batch (one statement) for their posters.
    let users = &body["extensions"]["loaders"]["UserLoader"];
    assert_eq!(users["batches"], 1, "{body}");
    assert_eq!(users["keys"], 10, "{body}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("readme-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
