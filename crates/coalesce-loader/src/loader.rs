//! The batch function: what a [`DataLoader`](crate::DataLoader) calls with every key of a batch.
//!
//! Two ways to write one:
//! - a type implementing [`Loader`]: the struct carries its own context, such as a connection
//!   pool and the caller's identity, which the batch function needs;
//! - a closure given to [`from_fn`], which captures what it needs.
//!
//! A batch function may return any [`BatchOutput`] shape: positional, mapped or grouped.

use std::future::Future;
use std::pin::Pin;

use crate::BatchOutput;

/// A batch function with its context.
///
/// ```
/// use coalesce_loader::{by_key, DataLoader, Loader};
/// use std::collections::HashMap;
///
/// #[derive(Clone, Debug)]
/// struct User { id: u64, name: String }
///
/// /// Holds what the batch function needs: here an in-memory table, in real code a pool.
/// struct UserLoader { table: HashMap<u64, String> }
///
/// impl Loader for UserLoader {
///     type Key = u64;
///     type Output = HashMap<u64, User>; // the mapped shape: loads give `Option<User>`
///     type Error = std::convert::Infallible;
///
///     async fn load_batch(&self, ids: &[u64]) -> Result<Self::Output, Self::Error> {
///         // SELECT id, name FROM users WHERE id IN (...): rows in any order, some missing.
///         let rows = ids.iter().filter_map(|id| {
///             self.table.get(id).map(|name| User { id: *id, name: name.clone() })
///         });
///         Ok(by_key(rows, |user| user.id))
///     }
/// }
///
/// let users = DataLoader::new(UserLoader { table: HashMap::from([(1, "Ada".to_string())]) });
/// # futures::executor::block_on(async {
/// assert_eq!(users.load(1).await.unwrap().unwrap().name, "Ada");
/// assert!(users.load(2).await.unwrap().is_none());
/// # });
/// ```
pub trait Loader: Send + Sync + 'static {
    /// What callers load by, such as a primary key.
    type Key: Send + Sync + 'static;
    /// What the batch function returns for a batch: one of the [`BatchOutput`] shapes, which
    /// also fixes what one key loads to ([`ValueOf<Self>`]). That value is cloned out of the memo
    /// for every load: make it cheap to clone (`Arc<Row>`, or a small row).
    type Output: BatchOutput<Self::Key, Self::Error, Value: Clone + Send + Sync + 'static>;
    /// The batch function's error. Need not be `Clone`: coalesce shares it behind an `Arc`.
    type Error: Send + Sync + 'static;

    /// Loads every key of one batch.
    ///
    /// An `Err` fails every load of the batch and is not cached; per-key errors go inside a
    /// positional result instead. A key may appear more than once when the loader was built
    /// with [`cache(false)`](crate::Builder::cache), or when it was cleared while queued and
    /// loaded again; the built-in shapes answer every occurrence.
    fn load_batch(
        &self,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;

    /// The loader's name unless the builder [names](crate::Builder::name) it: the type's name
    /// without its module path or parameters (`UserLoader`).
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }
}

/// What a load from loader `L` answers: its value, or why there is none.
pub type LoadResult<L> = Result<ValueOf<L>, crate::LoadError<<L as Loader>::Error>>;

/// What one key of loader `L` loads to: `V` for a positional `Vec<Result<V, E>>`, `Option<V>`
/// for a mapped `HashMap<K, V>`, `Vec<V>` for a [`Grouped<K, V>`](crate::Grouped).
pub type ValueOf<L> =
    <<L as Loader>::Output as BatchOutput<<L as Loader>::Key, <L as Loader>::Error>>::Value;

/// A [`Loader`] made from a closure by [`from_fn`]: a type that can be written down, such as
/// `DataLoader<FnLoader<u64, Vec<Result<User, MyError>>, MyError>>`, for the key type, the
/// [batch shape](BatchOutput) and the error.
///
/// The closure and its futures are boxed: one allocation per batch, which a batch function
/// calling a database does not notice. Implement [`Loader`] for a type of your own to avoid it.
pub struct FnLoader<K, O, E> {
    f: Box<BatchFn<K, O, E>>,
    /// The closure's type name, made a name by [`Loader::name`] only when asked for: most loaders
    /// are built per request and never need it.
    type_name: &'static str,
}

type BatchFn<K, O, E> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<O, E>> + Send>> + Send + Sync;

/// Makes a batch function from a closure that takes the keys of a batch and returns a future.
///
/// The closure receives the keys by value so that its future can own them. The loader's
/// default [name](crate::Builder::name) is the function's, or `f::{{closure}}` for a closure
/// written in function `f`.
///
/// ```
/// use coalesce_loader::DataLoader;
///
/// // A positional result: one entry per key, in key order.
/// async fn load_users(keys: Vec<u64>) -> Result<Vec<Result<String, std::convert::Infallible>>, std::convert::Infallible> {
///     Ok(keys.into_iter().map(|id| Ok(format!("user {id}"))).collect())
/// }
///
/// let loader = DataLoader::new(coalesce_loader::from_fn(load_users));
/// # futures::executor::block_on(async {
/// let (a, b) = futures::join!(loader.load(1), loader.load(2));
/// assert_eq!((a.unwrap(), b.unwrap()), ("user 1".to_string(), "user 2".to_string()));
/// assert_eq!(loader.stats().batches, 1);
/// assert_eq!(loader.name(), "load_users");
/// # });
/// ```
pub fn from_fn<F, Fut, O, K, E>(f: F) -> FnLoader<K, O, E>
where
    F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    O: BatchOutput<K, E>,
{
    FnLoader {
        f: Box::new(move |keys| Box::pin(f(keys))),
        type_name: std::any::type_name::<F>(),
    }
}

impl<O, K, E> Loader for FnLoader<K, O, E>
where
    O: BatchOutput<K, E, Value: Clone + Send + Sync + 'static> + 'static,
    K: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    type Key = K;
    type Output = O;
    type Error = E;

    fn load_batch(&self, keys: &[K]) -> impl Future<Output = Result<O, E>> + Send {
        (self.f)(keys.to_vec())
    }

    fn name(&self) -> &str {
        function_name(self.type_name)
    }
}

/// `path::to::Type<Args>` as `Type`: what a loader is called unless it is named.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let name = std::any::type_name::<T>();
    let name = name.split('<').next().unwrap_or(name);
    name.rsplit("::").next().unwrap_or(name)
}

/// A function's type name as its name (`load_users`), or `f::{{closure}}` for a closure written in
/// function `f`.
pub(crate) fn function_name(type_name: &'static str) -> &'static str {
    let path = type_name.split('<').next().unwrap_or(type_name);
    let mut enclosing = path;
    while let Some(outer) = enclosing.strip_suffix("::{{closure}}") {
        enclosing = outer;
    }
    &path[enclosing.rfind("::").map_or(0, |i| i + 2)..]
}
