//! What a load can fail with.
//!
//! The batch function's own error type `E` never has to be `Clone`: `sqlx::Error`, `std::io::Error`
//! and most real error types are not. One failure is shared by many waiters (every load of a failed
//! batch, every later load of a cached per-key error), so it is put behind an [`Arc`] once and the
//! `Arc` is cloned. That makes [`LoadError`] itself `Clone`, which GraphQL libraries need when one
//! error is reported at several paths.
//!
//! `LoadError<E>` implements [`std::error::Error`] whenever `E` is `Debug + Display`, so `?`
//! converts it into `anyhow::Error`, `Box<dyn Error + Send + Sync>`, or `async_graphql::Error`
//! (which takes any `Display + Send + Sync + 'static`), also when the batch function's own error
//! is an `anyhow::Error` or a boxed `dyn Error`, which do not implement `std::error::Error`
//! themselves.
//!
//! The batch function's message is part of the load's `Display` (a GraphQL response shows only
//! that), so it is not also the error's [`source`](std::error::Error::source): an error reporter
//! such as anyhow's `{:#}` prints each message once. The batch function's error is formatted with
//! `{:#}`, so an `anyhow::Error` shows its whole chain of causes. The error value itself is
//! [`LoadError::source_error`].

use std::fmt;
use std::sync::Arc;

/// Why a [`load`](crate::DataLoader::load) did not produce a value.
///
/// The variants separate the failures a caller may want to treat differently: an error the batch
/// function reported for this one key ([`Key`](LoadError::Key), cached like a value), and failures
/// of the whole batch, which are never cached so that the next load retries
/// ([`Batch`](LoadError::Batch), [`Panic`](LoadError::Panic),
/// [`WrongLength`](LoadError::WrongLength)).
///
/// ```
/// use coalesce_loader::LoadError;
/// use std::sync::Arc;
///
/// let err: LoadError<std::io::Error> =
///     LoadError::Key(Arc::new(std::io::Error::other("user 7 is banned")));
/// assert_eq!(err.to_string(), "user 7 is banned");
/// assert!(err.is_key_error());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError<E> {
    /// The batch function returned an error for this key only (a per-key error in a positional
    /// result). Other keys of the same batch got their values. Cached like a value until
    /// [`clear`](crate::DataLoader::clear)ed.
    Key(Arc<E>),
    /// The batch function failed as a whole; every load of that batch gets this error. Not
    /// cached: the next load of any of its keys calls the batch function again.
    Batch(Arc<E>),
    /// The batch function panicked. Every load of that batch gets this error, nothing is cached,
    /// and the loader stays usable.
    Panic {
        /// The loader's [name](crate::Builder::name).
        loader: Arc<str>,
        /// The panic message, when the payload was a string.
        message: Arc<str>,
    },
    /// A positional batch result did not have exactly one entry per key. Every load of that batch
    /// gets this error and nothing is cached: with the lengths off, no value can be trusted to
    /// belong to the key at its position.
    WrongLength {
        /// The loader's [name](crate::Builder::name).
        loader: Arc<str>,
        /// How many keys the batch function was given.
        keys: usize,
        /// How many results it returned.
        values: usize,
    },
    /// A load made by a batch function would wait for a batch that (directly, or through other
    /// batches of any loaders) waits for that very batch function: a batch function asked for a
    /// key of its own batch, or batches split a chain of keys so that each needs the other.
    /// Without this error, every batch on the cycle would wait forever. Loading the key again,
    /// once those batches are done, succeeds.
    Cycle {
        /// The [name](crate::Builder::name) of the loader this load was made on.
        loader: Arc<str>,
        /// The batches on the cycle, each waiting for the next, e.g.
        /// ``batch 7 waits for batch 9 of `users` waits for batch 7 of `posts` ``.
        path: Arc<str>,
    },
}

impl<E> LoadError<E> {
    /// True for a per-key error ([`LoadError::Key`]); false for failures of the whole batch.
    pub fn is_key_error(&self) -> bool {
        matches!(self, LoadError::Key(_))
    }

    /// The batch function's own error, for [`Key`](LoadError::Key) and
    /// [`Batch`](LoadError::Batch); `None` for the failures coalesce detected itself.
    pub fn source_error(&self) -> Option<&E> {
        match self {
            LoadError::Key(e) | LoadError::Batch(e) => Some(e),
            _ => None,
        }
    }
}

// Derived `Clone` would demand `E: Clone`; sharing the `Arc` does not.
impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            LoadError::Key(e) => LoadError::Key(Arc::clone(e)),
            LoadError::Batch(e) => LoadError::Batch(Arc::clone(e)),
            LoadError::Panic { loader, message } => LoadError::Panic {
                loader: Arc::clone(loader),
                message: Arc::clone(message),
            },
            LoadError::WrongLength {
                loader,
                keys,
                values,
            } => LoadError::WrongLength {
                loader: Arc::clone(loader),
                keys: *keys,
                values: *values,
            },
            LoadError::Cycle { loader, path } => LoadError::Cycle {
                loader: Arc::clone(loader),
                path: Arc::clone(path),
            },
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A per-key error is the batch function's own message for that key: "user 7 not
            // found" reads better in a GraphQL response than any wrapper around it.
            // `{:#}`: an error that keeps a chain of causes (anyhow's) shows all of it.
            LoadError::Key(e) => write!(f, "{e:#}"),
            LoadError::Batch(e) => write!(f, "batch load failed: {e:#}"),
            LoadError::Panic { loader, message } => {
                write!(f, "batch function of loader `{loader}` panicked: {message}")
            }
            LoadError::WrongLength {
                loader,
                keys,
                values,
            } => write!(
                f,
                "batch function of loader `{loader}` returned {values} values for {keys} keys; \
                 a positional result needs exactly one value per key, in key order"
            ),
            LoadError::Cycle { loader, path } => write!(
                f,
                "a load from loader `{loader}` would close a cycle of batches waiting for each \
                 other ({path}), which would wait forever"
            ),
        }
    }
}

/// No `source`: the batch function's message is in the `Display` already (see the module
/// documentation), and requiring `E: Error` to expose its sources would shut out
/// `anyhow::Error` and `Box<dyn Error>`, the most common batch function errors.
impl<E: fmt::Debug + fmt::Display> std::error::Error for LoadError<E> {}

/// How a batch failed as a whole, before it is shared with every waiter as a [`LoadError`].
pub(crate) enum BatchFailure<E> {
    Error(E),
    WrongLength { keys: usize, values: usize },
    Panic(Arc<str>),
}

impl<E> BatchFailure<E> {
    /// A word for logs and spans, which cannot assume `E: Display`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            BatchFailure::Error(_) => "error",
            BatchFailure::WrongLength { .. } => "wrong length",
            BatchFailure::Panic(_) => "panic",
        }
    }

    pub(crate) fn into_load_error(self, loader: &Arc<str>) -> LoadError<E> {
        let loader = Arc::clone(loader);
        match self {
            BatchFailure::Error(e) => LoadError::Batch(Arc::new(e)),
            BatchFailure::WrongLength { keys, values } => LoadError::WrongLength {
                loader,
                keys,
                values,
            },
            BatchFailure::Panic(message) => LoadError::Panic { loader, message },
        }
    }
}

/// The message of a caught panic: `panic!("...")` payloads are `&str` or `String`.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("a non-string panic payload")
    }
}
