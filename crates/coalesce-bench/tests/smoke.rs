//! The comparison binary's run, with two rounds: every row is there, every library answers
//! correctly (the scenarios check each value), and the batch counts are the ones each library's
//! design implies.

use std::time::Duration;

use coalesce_bench::alloc::CountingAllocator;
use coalesce_bench::report::{self, Config};
use coalesce_bench::table::{self, Row};
use coalesce_bench::{Contender, alloc};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn a_tiny_run_fills_the_table_with_the_expected_batch_counts() {
    assert!(alloc::installed());
    let rows = report::run(Config {
        rounds: 2,
        min_sample: Duration::ZERO,
        samples: 1,
    });

    let ids: Vec<&str> = rows.iter().map(|row| row.id).collect();
    assert_eq!(
        ids,
        [
            "1a", "1b", "2", "3", "4", "5", "6a", "6b", "7a", "7b", "8a", "8b", "8c", "8d"
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

    // coalesce: one batch per frame, whatever its size, and one per level.
    for (id, batches) in [("1a", 1.0), ("1b", 1.0), ("2", 1.0), ("3", 1.0), ("4", 3.0)] {
        assert_eq!(count(id, Contender::Coalesce), batches, "{id}");
    }
    assert_eq!(count("6a", Contender::Coalesce), 1.0);
    assert_eq!(count("6b", Contender::Coalesce), 1.0);
    // async-graphql's 1 ms window catches a whole frame; the dataloader crate cuts batches at
    // 200 keys.
    let async_graphql = Contender::ASYNC_GRAPHQL_DEFAULT;
    for (id, batches) in [("1a", 1.0), ("2", 1.0), ("3", 1.0), ("4", 3.0), ("6a", 1.0)] {
        assert_eq!(count(id, async_graphql), batches, "{id}");
    }
    for (id, batches) in [("1a", 5.0), ("1b", 5.0), ("2", 1.0), ("3", 1.0), ("4", 3.0)] {
        assert_eq!(count(id, Contender::Dataloader), batches, "{id}");
    }
    // Over HTTP: 2 statements batched, 1 per row naively (the demo's own acceptance numbers).
    for (id, naive) in [("7a", 21.0), ("7b", 101.0)] {
        assert_eq!(count(id, Contender::Coalesce), 2.0, "{id}");
        let Some(table::Baseline::Naive(cell)) = row(id).baseline else {
            panic!("{id} has no naive baseline");
        };
        assert_eq!(cell.count, Some(naive), "{id}");
    }
    // A memo hit allocates nothing in coalesce.
    assert_eq!(row("8c").cell(Contender::Coalesce).unwrap().value, 0.0);

    let markdown = table::markdown(&rows);
    assert_eq!(markdown.lines().count(), 2 + rows.len(), "{markdown}");
    assert!(rows.iter().all(|row| row.ratio().is_some()), "{markdown}");
}
