//! The pages comparison, one round: every strategy answers the right pages (the run checks
//! them), with the statements and rows each one's design implies.

use coalesce_bench::pages::{Skewed, Strategy};
use coalesce_bench::scenario;

#[test]
fn a_window_costs_one_statement_and_at_most_six_rows_per_user_where_truncating_fetches_every_friend()
 {
    let rt = scenario::runtime();
    let results = Skewed::open(&rt).measure(&rt, 1);
    let counts: Vec<(Strategy, u64, u64)> = results
        .iter()
        .map(|m| (m.strategy, m.statements, m.rows))
        .collect();
    // Seeded users have 550 friends, 4 to 7 each (525 rows at 6 per user at most); user 1
    // has 10 000 more, of which a page fetches one more row than its 5 seeded ones.
    assert_eq!(
        counts,
        [
            (Strategy::Window, 1, 526),
            (Strategy::Truncate, 1, 10_550),
            (Strategy::LimitPerUser, 100, 526),
        ]
    );
    assert!(results.iter().all(|m| m.times.len() == 1));
}
