//! `coalesce-bench`: coalesce measured side by side with its peers, async-graphql's
//! `dataloader` (with its default 1 ms delay, and with none) and the `dataloader` crate (with its
//! default 10 yields, and with 1), in one process, on one machine, on identical workloads; and
//! on the micro scenarios, in the same run, with graphql/dataloader on Node and aiodataloader and
//! Strawberry's DataLoader on Python ([`peers`]), when `node` and `python3` are there.
//!
//! Claims of speed come from here and nowhere else: never absolute numbers quoted from other
//! machines. Every library gets the same keys, the same batch function ([`dataset`]) and the
//! same values, and every scenario is written once, generic over [`Library`], so that the
//! libraries differ only in how they get keys to the batch function. The batch function answers
//! in the mapped shape (a `HashMap`) that every Rust library accepts; coalesce runs a second time
//! with it answering in key order ([`library::Positional`]), as graphql/dataloader's batch
//! functions do, for the comparison with that library.
//!
//! - `cargo run --release -p coalesce-bench -- [--quick] [--no-peers]` prints the comparison
//!   table ([`report`], [`table`]), with the allocation rows counted by
//!   [`alloc::CountingAllocator`];
//! - `cargo bench -p coalesce-bench` runs the same scenarios under criterion, per library.
//!
//! The scenarios, numbered as in README's Performance table:
//!
//! 1. 1000 distinct keys in one frame, by a `join_all` of loads, against the floors of the bare
//!    `join_all` ([`scenario::JoinAll`]; futures woken by another, [`scenario::woken_floor`], and
//!    futures ready at once, [`scenario::ready_floor`]), and by one `load_many`
//!    ([`scenario::LoadMany`]);
//! 2. the same with 100 keys;
//! 3. cache hits on a loaded key ([`scenario::CacheHit`]);
//! 4. three dependent loads, the latency of a nested query ([`scenario::Chain`]);
//! 5. 64 tasks loading overlapping keys on two workers ([`scenario::Tasks`]), with the spread of
//!    its batch calls over the rounds;
//! 6. async-graphql executing the demo's queries over an in-memory source
//!    ([`graphql::GraphqlQuery`]);
//! 7. the demo server over HTTP on SQLite, batched against naive ([`http::HttpDemo`]);
//! 8. allocations per load for 1 and 3 ([`alloc`]);
//! 9. instructions per cache hit and per request of 4, counted by callgrind when valgrind is
//!    installed ([`instructions`]): figures that, unlike times, do not move with the machine's
//!    load.
//!
//! Apart from the table, `cargo run --release -p coalesce-bench --bin pages` compares ways of
//! fetching a page of friends per user on skewed friend counts ([`pages`]).
//!
//! Every scenario checks its answers: the micro scenarios each value, 6 and 7 every response's
//! data against the expected answers ([`verify`]), so that a library or a server that answers wrong, or a
//! server that has lost its database and answers errors fast, stops the run instead of
//! posting a figure.

#![warn(missing_docs)]

pub mod alloc;
pub mod dataset;
pub mod graphql;
pub mod http;
pub mod instructions;
pub mod library;
pub mod pages;
pub mod peers;
pub mod report;
pub mod scenario;
pub mod table;
pub mod verify;

pub use library::{Contender, Library};
