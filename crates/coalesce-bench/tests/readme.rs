//! README's Performance section shows the bench's table pasted: every table under its heading is
//! in the generator's format, with the generator's own header and separator rows, so that a
//! table that lost either (and renders as a paragraph of pipes) fails the build.
//!
//! The server-level tables come from `servers/run-matrix.py`: they are held to that script's
//! header ([`SERVER_HEADER`]) and to its shape. A table of another generator added under the
//! heading needs its header added here.

use coalesce_bench::table::{self, Baseline, Cell, Column, Floor, Row, Target, Unit};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");

/// The header of `servers/run-matrix.py`'s tables, with every server it runs (its `table()`).
const SERVER_HEADER: &str = "| query | concurrency | coalesce demo | naive (N+1) | Node | Node x2 | Strawberry | Strawberry x2 |";

/// Whether `table` is the server matrix's: its header, a separator of as many cells, then rows of
/// as many cells.
fn check_server_table(table: &[&str]) -> Result<(), String> {
    let cells = |line: &str| line.matches('|').count();
    let width = cells(SERVER_HEADER);
    let separator = table.get(1).copied().unwrap_or("(nothing)");
    if cells(separator) != width
        || !separator
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' '))
    {
        return Err(format!(
            "its separator row is\n  {separator}\nnot one of {} cells",
            width - 1
        ));
    }
    if table.len() == 2 {
        return Err("a table without rows".into());
    }
    match table[2..].iter().find(|row| cells(row) != width) {
        Some(row) => Err(format!(
            "a row of {} cells under a header of {}: {row}",
            cells(row) - 1,
            width - 1
        )),
        None => Ok(()),
    }
}

/// The lines under `## Performance`, up to the next heading of the same level.
fn performance_section(readme: &str) -> Vec<&str> {
    let mut lines = readme
        .lines()
        .skip_while(|line| line.trim_end() != "## Performance");
    assert!(
        lines.next().is_some(),
        "README.md has no `## Performance` heading"
    );
    lines.take_while(|line| !line.starts_with("## ")).collect()
}

/// The tables in `lines`: runs of consecutive lines that start with a pipe, outside fenced code.
fn tables<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut tables = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut fenced = false;
    for &line in lines {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.trim_start().starts_with('|') {
            current.push(line);
        } else if !current.is_empty() {
            tables.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tables.push(current);
    }
    tables
}

/// Whether `table` is the generator's: its header, its separator, then rows of as many cells,
/// each with a scenario number.
fn check(table: &[&str]) -> Result<(), String> {
    let header = table::header();
    let expected: Vec<&str> = header.lines().collect();
    let cells = |line: &str| line.matches('|').count();
    for (at, want) in expected.iter().enumerate() {
        let got = table.get(at).copied().unwrap_or("(nothing)");
        if got != *want {
            let what = if at == 0 { "header" } else { "separator" };
            return Err(format!(
                "its {what} row is\n  {got}\nnot the generator's\n  {want}"
            ));
        }
    }
    if table.len() == expected.len() {
        return Err("a table without rows".into());
    }
    for row in &table[expected.len()..] {
        let number = row.split('|').nth(1).unwrap_or_default().trim();
        if !row.starts_with("| ") || !row.ends_with(" |") || number.is_empty() {
            return Err(format!("a row not in the generator's form: {row}"));
        }
        if cells(row) != cells(expected[0]) {
            return Err(format!(
                "a row of {} cells under a header of {}: {row}",
                cells(row) - 1,
                cells(expected[0]) - 1
            ));
        }
    }
    Ok(())
}

#[test]
fn readme_performance_tables_are_the_generators_with_header_and_separator() {
    let readme = std::fs::read_to_string(README).expect("README.md beside the workspace");
    let section = performance_section(&readme);
    let tables = tables(&section);
    assert!(
        !tables.is_empty(),
        "README's Performance section has no table"
    );
    for table in tables {
        let checked = match table[0] {
            SERVER_HEADER => check_server_table(&table),
            _ => check(&table),
        };
        if let Err(why) = checked {
            panic!(
                "README's Performance table is not what `cargo run --release -p coalesce-bench` \
                 (or, for the server level, `servers/run-matrix.py`) prints: {why}"
            );
        }
    }
}

/// A table as the generator writes it, of one row.
fn generated() -> String {
    let cell = Cell {
        value: 150.0,
        count: Some(1.0),
        spread: None,
    };
    table::markdown(&[Row {
        id: "1a",
        scenario: "1000 distinct keys in one frame".into(),
        unit: Unit::NsPerLoad,
        counts: "batch call",
        baseline: Some(Baseline::Floor(vec![(Floor::Woken, cell)])),
        cells: vec![(Column::COALESCE, cell)],
        target: Some(Target::AtMost(200.0)),
    }])
}

#[test]
fn the_generators_own_table_passes_the_check() {
    let generated = generated();
    let lines: Vec<&str> = generated.lines().collect();
    assert_eq!(check(&lines), Ok(()));
}

#[test]
fn a_table_without_its_header_or_separator_or_with_a_short_row_fails_the_check() {
    let generated = generated();
    let lines: Vec<&str> = generated.lines().collect();

    let headless = check(&lines[1..]).unwrap_err();
    assert!(headless.starts_with("its header row is"), "{headless}");

    let without_separator = [lines[0], lines[2], lines[2]];
    let why = check(&without_separator).unwrap_err();
    assert!(why.starts_with("its separator row is"), "{why}");

    let short = lines[2]
        .rsplit_once(" |")
        .unwrap()
        .0
        .rsplit_once(" |")
        .unwrap()
        .0;
    let short = format!("{short} |");
    let why = check(&[lines[0], lines[1], &short]).unwrap_err();
    assert!(why.starts_with("a row of "), "{why}");
}

#[test]
fn tables_are_found_outside_code_fences_and_split_at_blank_lines() {
    let text = "intro\n```sh\n| not | a table |\n```\n| a |\n|---|\n| 1 |\n\n| b |\n";
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        tables(&lines),
        vec![vec!["| a |", "|---|", "| 1 |"], vec!["| b |"]]
    );
}

#[test]
fn the_server_header_names_the_matrix_scripts_columns() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/servers/run-matrix.py");
    let script = std::fs::read_to_string(script).expect("servers/run-matrix.py");
    assert!(script.contains(r#""| query | concurrency | ""#));
    for column in SERVER_HEADER.split('|').map(str::trim).skip(3) {
        if !column.is_empty() {
            assert!(
                script.contains(&format!(": \"{column}\",")),
                "run-matrix.py has no column {column:?}"
            );
        }
    }
}

#[test]
fn a_server_table_without_its_separator_or_with_a_short_row_fails_the_check() {
    let separator = "|---|---|---|---|---|---|---|---|";
    let row = "| bands | 8 | 635 | 96 | 382 | 845 | 78 | 69 |";
    assert!(check_server_table(&[SERVER_HEADER, separator, row]).is_ok());
    assert!(check_server_table(&[SERVER_HEADER, row]).is_err());
    assert!(check_server_table(&[SERVER_HEADER, separator]).is_err());
    assert!(check_server_table(&[SERVER_HEADER, separator, "| bands | 8 | 635 |"]).is_err());
}
