//! Costs that must grow linearly with the work. Each test is sized so that a linear
//! implementation finishes in well under a second in a debug build, and a quadratic one would
//! take minutes: a regression shows as a test that does not finish, not as a timing assertion.

mod common;

use coalesce_loader::DataLoader;
use common::{TestError, poll_once, yield_now};
use futures::executor::block_on;

#[test]
fn load_many_over_many_batches_under_a_permit_limit_is_linear() {
    const KEYS: u64 = 200_000;
    let loader = DataLoader::builder(coalesce_loader::from_fn(|keys: Vec<u64>| async move {
        yield_now().await; // a real batch function answers later than it is called
        Ok::<_, TestError>(keys.iter().map(|&k| Ok(k + 1)).collect::<Vec<_>>())
    }))
    .max_batch_size(10)
    .max_concurrent_batches(4)
    .build();
    let values = block_on(loader.load_many(0..KEYS));
    assert_eq!(values.len(), KEYS as usize);
    for (k, v) in values.into_iter().enumerate() {
        assert_eq!(v.unwrap(), k as u64 + 1);
    }
    assert_eq!(loader.stats().batches, KEYS / 10);
}

#[test]
fn dropping_many_waiters_of_one_key_front_to_back_is_linear() {
    const WAITERS: usize = 200_000;
    let (loader, _calls) = common::echo();
    let mut waiters: Vec<_> = (0..WAITERS).map(|_| loader.load(1)).collect();
    for waiter in &mut waiters {
        assert!(poll_once(waiter).is_pending());
    }
    drop(waiters); // a Vec drops its elements front to back
    assert_eq!(
        block_on(loader.load(1)).unwrap(),
        common::echo_value(1).unwrap()
    );
}
