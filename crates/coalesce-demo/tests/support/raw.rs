//! HTTP/1.1 on a bare TCP connection, for what no HTTP client sends: a head alone, a body
//! trickled or never finished, a connection left idle.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Reply;

/// A complete `POST /graphql` of `{ messages { id } }`.
pub fn messages_request() -> Vec<u8> {
    let body = r#"{"query": "{ messages { id } }"}"#;
    let mut request = post_head(body.len(), "").into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// The head of a `POST /graphql` of a JSON body of `length` bytes, with `headers` (each line
/// ending in `\r\n`) added.
pub fn post_head(length: impl std::fmt::Display, headers: &str) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n{headers}\r\n"
    )
}

/// One client connection and what it has read but not yet consumed.
pub struct Connection {
    stream: TcpStream,
    unread: Vec<u8>,
}

impl Connection {
    pub async fn open(addr: &str) -> Connection {
        Connection {
            stream: TcpStream::connect(addr).await.expect("connect"),
            unread: Vec::new(),
        }
    }

    /// Writes `bytes`; an error means the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next response, or `None` if the server closes the connection without one. Its body is
    /// JSON, or `null` when empty.
    pub async fn response(&mut self) -> Option<Reply> {
        let head_end = loop {
            if let Some(at) = find(&self.unread, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.unread[..head_end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .expect("responses declare their length");
        while self.unread.len() < head_end + length {
            self.fill().await?;
        }
        let body: Vec<u8> = self
            .unread
            .drain(..head_end + length)
            .skip(head_end)
            .collect();
        let body = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("status {status}, body is not JSON ({e}): {head}"))
        };
        Some(Reply { status, body })
    }

    /// Returns once the server has closed the connection (end of stream or reset), discarding
    /// anything it sends first.
    pub async fn closed(&mut self) {
        while self.fill().await.is_some() {}
    }

    /// Sends `bytes` one at a time, `every` apart, and keeps reading until the server closes the
    /// connection; returns its response if it sent one before closing.
    pub async fn trickle(&mut self, bytes: &[u8], every: Duration) -> Option<Reply> {
        let (mut reader, mut writer) = self.stream.split();
        let writing = async {
            for byte in bytes {
                tokio::time::sleep(every).await;
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
            }
        };
        let reading = async {
            let mut read = Vec::new();
            while reader.read_buf(&mut read).await.is_ok_and(|n| n > 0) {}
            read
        };
        let (read, ()) = tokio::join!(reading, writing);
        self.unread.extend(read);
        self.response().await
    }

    /// Reads more; `None` once the server has closed the connection.
    async fn fill(&mut self) -> Option<()> {
        let mut buffer = [0; 4096];
        match self.stream.read(&mut buffer).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.unread.extend_from_slice(&buffer[..n]);
                Some(())
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
