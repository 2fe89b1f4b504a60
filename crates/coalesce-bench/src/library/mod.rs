//! The three DataLoaders under test, behind one interface, so that each scenario is written once
//! and runs the same code for every library.

mod async_graphql;
mod coalesce;
mod dataloader;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::runtime::Runtime;

pub use self::async_graphql::AsyncGraphql;
pub use self::coalesce::{Coalesce, Mapped, Positional, Shape};
pub use self::dataloader::DataloaderCrate;
use crate::dataset::{BatchFn, Dataset};
use crate::scenario::{Run, Scenario};

/// A DataLoader library: how to build a loader on a [`BatchFn`] and load through it.
///
/// The load methods return each library's own future, mapped (`FutureExt::map`, no extra state
/// machine) to the common output, so the adapter costs every library the same few instructions.
///
/// Each library is used as its documentation shows, with its defaults except where a scenario
/// says otherwise, and with memoization on (async-graphql's default loader does not cache; its
/// `HashMapCache` is the one that compares with the others).
pub trait Library: Copy + fmt::Debug + Send + Sync + 'static {
    /// A loader of this library over dataset `D`: what a request would hold.
    type Handle<D: Dataset>: Send + Sync + 'static;

    /// A fresh loader, with an empty memo, calling `batch_fn` for its batches.
    fn build<D: Dataset>(self, batch_fn: BatchFn<D>) -> Self::Handle<D>;

    /// Loads one key: its value, or `None` when the dataset has no row for it.
    fn load<D: Dataset>(
        handle: &Self::Handle<D>,
        key: D::Key,
    ) -> impl Future<Output = Option<D::Value>> + Send;

    /// Loads `keys` with the library's own many-keys call; returns how many were found.
    fn load_many<D: Dataset>(
        handle: &Self::Handle<D>,
        keys: Vec<D::Key>,
    ) -> impl Future<Output = usize> + Send;
}

/// One column of the comparison: a library with its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// coalesce, with its defaults (the frame rule), its batch function answering in the
    /// mapped shape that every Rust library accepts.
    Coalesce,
    /// coalesce as [`Contender::Coalesce`], its batch function answering in key order, as
    /// graphql/dataloader's do: the figure to compare with that library's.
    CoalescePositional,
    /// async-graphql's `DataLoader` with a `HashMapCache`, batching over `delay`.
    AsyncGraphql {
        /// How long it collects keys before sending a batch; its default is 1 ms.
        delay: Duration,
    },
    /// The `dataloader` crate's cached `Loader`, with its defaults (batches of at most 200) and
    /// `yield_count` yields per load before it sends a batch.
    Dataloader {
        /// Its `with_yield_count`; the crate's default is 10.
        yield_count: usize,
    },
}

impl Contender {
    /// async-graphql's loader as it comes: a 1 ms delay.
    pub const ASYNC_GRAPHQL_DEFAULT: Contender = Contender::AsyncGraphql {
        delay: Duration::from_millis(1),
    };

    /// The `dataloader` crate as it comes: 10 yields per load.
    pub const DATALOADER_DEFAULT: Contender = Contender::Dataloader {
        yield_count: DataloaderCrate::DEFAULT_YIELD_COUNT,
    };

    /// Every column, coalesce first (in both shapes): async-graphql with its default 1 ms delay
    /// and with none, and the `dataloader` crate with its default 10 yields and with 1, its
    /// fastest setting that still batches a `join_all`.
    pub const ALL: [Contender; 6] = [
        Contender::Coalesce,
        Contender::CoalescePositional,
        Contender::ASYNC_GRAPHQL_DEFAULT,
        Contender::AsyncGraphql {
            delay: Duration::ZERO,
        },
        Contender::DATALOADER_DEFAULT,
        Contender::Dataloader { yield_count: 1 },
    ];

    /// The peers coalesce is compared with: every contender but coalesce's columns.
    pub fn peers() -> impl Iterator<Item = Contender> {
        Self::ALL.into_iter().filter(|c| !c.is_coalesce())
    }

    /// Whether this is one of coalesce's own columns.
    pub fn is_coalesce(self) -> bool {
        matches!(self, Contender::Coalesce | Contender::CoalescePositional)
    }

    /// A name without spaces, for benchmark ids and file names.
    pub fn id(self) -> String {
        match self {
            Contender::Coalesce => "coalesce".into(),
            Contender::CoalescePositional => "coalesce-positional".into(),
            Contender::AsyncGraphql { delay } if delay.is_zero() => "async-graphql-delay-0".into(),
            Contender::AsyncGraphql { .. } => "async-graphql".into(),
            Contender::Dataloader { yield_count } => format!("dataloader-yields-{yield_count}"),
        }
    }

    /// Runs `scenario` for `rounds` rounds on `rt` with this contender's library.
    ///
    /// The one place that turns the column into a library type: scenarios are generic over
    /// [`Library`], so every library runs monomorphized code, with no dynamic dispatch of its own.
    pub fn run<S: Scenario>(self, scenario: &S, rt: &Runtime, rounds: u64) -> Run {
        match self {
            Contender::Coalesce => scenario.run(Coalesce::<Mapped>::default(), rt, rounds),
            Contender::CoalescePositional => {
                scenario.run(Coalesce::<Positional>::default(), rt, rounds)
            }
            Contender::AsyncGraphql { delay } => scenario.run(AsyncGraphql { delay }, rt, rounds),
            Contender::Dataloader { yield_count } => {
                scenario.run(DataloaderCrate { yield_count }, rt, rounds)
            }
        }
    }
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contender::Coalesce => f.write_str("coalesce"),
            Contender::CoalescePositional => f.write_str("coalesce, positional"),
            Contender::AsyncGraphql { delay } if delay.is_zero() => {
                f.write_str("async-graphql, delay 0")
            }
            Contender::AsyncGraphql { delay } => write!(f, "async-graphql, {delay:?} delay"),
            Contender::Dataloader { yield_count: 1 } => f.write_str("dataloader 0.18, 1 yield"),
            Contender::Dataloader { yield_count } => {
                write!(f, "dataloader 0.18, {yield_count} yields")
            }
        }
    }
}
