//! The comparison binary's run, with two rounds: every row is there, every library answers
//! correctly (the scenarios check each value), and the batch counts are the ones each library's
//! design implies.

use std::time::Duration;

use coalesce_bench::alloc::CountingAllocator;
use coalesce_bench::peers::Peers;
use coalesce_bench::report::{self, Config};
use coalesce_bench::table::{self, Baseline, Column, Floor, Row};
use coalesce_bench::{Contender, alloc};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn a_tiny_run_fills_the_table_with_the_expected_batch_counts() {
    assert!(alloc::installed());
    // The peers in other languages have a test of their own (tests/peers.rs): their columns
    // stay empty here.
    let rows = report::run(
        Config {
            rounds: 2,
            min_sample: Duration::ZERO,
            max_sample: Duration::from_secs(60),
            samples: 1,
        },
        &Peers::none(),
    );

    let ids: Vec<&str> = rows.iter().map(|row| row.id).collect();
    assert_eq!(
        ids,
        [
            "1a", "1b", "2", "3", "4", "4b", "5", "6a", "6b", "7a", "7b", "8a", "8b", "8c", "8d"
        ]
    );
    let row = |id: &str| -> &Row { rows.iter().find(|row| row.id == id).unwrap() };
    let count = |id: &str, contender: Contender| {
        let cell = row(id)
            .cell(contender)
            .unwrap_or_else(|| panic!("{id}: {contender}"));
        cell.count
            .unwrap_or_else(|| panic!("{id}: {contender} has no count"))
    };

    // coalesce, in either shape: one batch per frame, whatever its size, and one per level.
    for coalesce in [Contender::Coalesce, Contender::CoalescePositional] {
        for (id, batches) in [
            ("1a", 1.0),
            ("1b", 1.0),
            ("2", 1.0),
            ("3", 1.0),
            ("4", 3.0),
            ("4b", 3.0),
            ("6a", 1.0),
            ("6b", 1.0),
        ] {
            assert_eq!(count(id, coalesce), batches, "{id}, {coalesce}");
        }
    }
    // async-graphql's 1 ms window catches a whole frame; the dataloader crate cuts batches at
    // 200 keys.
    let async_graphql = Contender::ASYNC_GRAPHQL_DEFAULT;
    for (id, batches) in [("1a", 1.0), ("2", 1.0), ("3", 1.0), ("4", 3.0), ("6a", 1.0)] {
        assert_eq!(count(id, async_graphql), batches, "{id}");
    }
    for yield_count in [10, 1] {
        let dataloader = Contender::Dataloader { yield_count };
        for (id, batches) in [("1a", 5.0), ("1b", 5.0), ("2", 1.0), ("3", 1.0), ("4", 3.0)] {
            assert_eq!(count(id, dataloader), batches, "{id}, {dataloader}");
        }
    }
    // Every Rust contender in every micro row; the peers in other languages in none of them.
    for id in ["1a", "1b", "2", "3", "4", "5"] {
        let columns: Vec<Column> = row(id).cells.iter().map(|(c, _)| *c).collect();
        let rust: Vec<Column> = Contender::ALL.into_iter().map(Column::from).collect();
        assert_eq!(columns, rust, "{id}");
    }
    // The frame rows have both Rust floors, with no batch calls; 5 has the spread of its batch
    // calls over its two rounds, which cannot be wider than the rounds' total.
    for id in ["1a", "2"] {
        let baseline = row(id).baseline.clone().expect("a frame row has floors");
        for floor in [Floor::Woken, Floor::Ready] {
            let cell = baseline
                .floor(floor)
                .unwrap_or_else(|| panic!("{id}: {floor}"));
            assert!(cell.value > 0.0 && cell.count.is_none(), "{id}: {floor}");
        }
    }
    for contender in Contender::ALL {
        let cell = row("5").cell(contender).unwrap();
        let spread = cell
            .spread
            .unwrap_or_else(|| panic!("5: {contender} has no spread"));
        let total = cell.count.unwrap() * 2.0;
        assert!(
            spread.min >= 1 && spread.min <= spread.max,
            "5: {contender}"
        );
        assert_eq!((spread.min + spread.max) as f64, total, "5: {contender}");
    }
    // Over HTTP: 2 statements batched, 1 per row naively (the demo's own acceptance numbers).
    for (id, naive) in [("7a", 21.0), ("7b", 101.0)] {
        assert_eq!(count(id, Contender::Coalesce), 2.0, "{id}");
        let Some(Baseline::Naive(cell)) = &row(id).baseline else {
            panic!("{id} has no naive baseline");
        };
        assert_eq!(cell.count, Some(naive), "{id}");
    }
    // A memo hit allocates nothing in coalesce; a positional answer needs no aligned copy, so a
    // request of three levels allocates less than with a mapped one.
    assert_eq!(row("8c").cell(Contender::Coalesce).unwrap().value, 0.0);
    let chain_allocations = |contender| row("8d").cell(contender).unwrap().value;
    assert!(
        chain_allocations(Contender::CoalescePositional) < chain_allocations(Contender::Coalesce)
    );

    let markdown = table::markdown(&rows);
    assert_eq!(markdown.lines().count(), 2 + rows.len(), "{markdown}");
    assert!(rows.iter().all(|row| row.ratio().is_some()), "{markdown}");
}
