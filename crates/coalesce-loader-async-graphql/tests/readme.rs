//! The project README shows `examples/server.rs` as it is, so what a reader copies is what the
//! tests run.

#[test]
fn the_readme_shows_the_example_server_verbatim() {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let Ok(readme) = std::fs::read_to_string(format!("{manifest}/../../README.md")) else {
        return; // built from its package, outside the workspace: there is no project README
    };
    let server = include_str!("../examples/server.rs");
    let lines = server.lines().count();
    assert!(
        readme.contains(&format!("```rust,ignore\n{server}```")),
        "README.md must show examples/server.rs verbatim in a ```rust,ignore block"
    );
    assert!(
        readme.contains(&format!("({lines} lines,")),
        "README.md must give the example's line count, {lines}"
    );
}
