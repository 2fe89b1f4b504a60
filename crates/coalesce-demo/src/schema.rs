//! The GraphQL schema of the classic DataLoader examples: messages and their posters, users and
//! their friends, bands and their albums.
//!
//! Every field that follows a key asks the request's [`Source`], so the same resolvers serve the
//! batched and the naive mode.

use async_graphql::{Context, EmptySubscription, ID, Object, Result, Schema, SchemaBuilder};
use coalesce_loader::Loaders;
use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};

use crate::friends_connection::{self, FriendsConnection};
use crate::loaders::{self, SharedCache};
use crate::model::{Album, Band, Id, Message, User};
use crate::seed;
use crate::source::{Mode, Source};
use crate::store::RequestStore;

/// The demo's schema type.
pub type DemoSchema = Schema<Query, Mutation, EmptySubscription>;

/// The deepest a query may nest. GraphiQL's own introspection query nests 15 deep (graphql-js's
/// default `typeDepth` of 9 inside `__schema.types.fields.args.type`); the example queries need 4.
pub const MAX_DEPTH: usize = 15;

/// The most a query may cost, where a field costs 1 and a list multiplies its items' cost by the
/// rows it may return (see [`seed`]). `{ users { friends { bestFriend { name } } } }` costs
/// 1400; one more level of friends, or 1000 aliased `user` fields, is refused before it runs.
pub const MAX_COMPLEXITY: usize = 2000;

/// The caller, from the `x-user-id` header: whom `me` resolves to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Viewer(pub Option<Id>);

/// The schema with its limits on depth and complexity, fetching in `mode`: [`builder`],
/// finished.
pub fn build(mode: Mode, shared: Option<SharedCache>) -> DemoSchema {
    builder(mode, shared).finish()
}

/// The schema with its limits on depth and complexity, fetching in `mode`, ready for extensions
/// of your own before [`finish`](SchemaBuilder::finish).
///
/// Each request brings its [`RequestStore`] in its data: the schema runs on whatever store that
/// is (rusqlite or sqlx, on tokio here or on a thread of `coalesce-demo-blocking`). In
/// [`Mode::Batched`] the [`LoaderExtension`] gives every request fresh loaders over its store (behind `shared`, if
/// given), and its response reports what they did in `extensions.dataloader`.
///
/// ```
/// use async_graphql::{Request, extensions::Analyzer};
/// use coalesce_demo::{Database, Mode, schema};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// // Adds each response's complexity and depth to its `extensions`.
/// let schema = schema::builder(Mode::Batched, None).extension(Analyzer).finish();
/// let store = Database::open(None).await?.request_store();
/// let request = Request::new("{ messages { poster { name } } }").data(store.clone());
/// let response = schema.execute(request).await;
/// assert_eq!(response.extensions["analyzer"].clone().into_json()?["depth"], 3);
/// assert_eq!(store.count(), 2);
/// # Ok(())
/// # }
/// ```
pub fn builder(
    mode: Mode,
    shared: Option<SharedCache>,
) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    let loaders =
        LoaderExtension::new(move |request| match (mode, request.get::<RequestStore>()) {
            (Mode::Batched, Some(store)) => loaders::per_request(store, shared.as_ref()),
            // Naive: no loaders. Without the request's store every field fails (`source`).
            _ => Loaders::new(),
        });
    Schema::build(Query, Mutation, EmptySubscription)
        .data(mode)
        .extension(loaders.stats_in_extensions("dataloader"))
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The root query.
pub struct Query;

#[Object]
impl Query {
    /// Every message, each with its poster: 21 statements naively, 2 batched.
    #[graphql(complexity = "list_cost(seed::MESSAGES as usize, child_complexity)")]
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>> {
        Ok(source(ctx)?.all_messages().await?)
    }

    /// The user with this id, or null.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        Ok(source(ctx)?.user(parse_id(&id)?).await?)
    }

    /// The caller, named by the `x-user-id` header; null without one.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match ctx.data::<Viewer>()? {
            Viewer(Some(id)) => Ok(source(ctx)?.user(*id).await?),
            Viewer(None) => Ok(None),
        }
    }

    /// Every user (a `getAllPeople` list field); the rows also fill the user loader's memo.
    #[graphql(complexity = "list_cost(seed::USERS as usize, child_complexity)")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        Ok(source(ctx)?.all_users().await?)
    }

    /// Every band, each with its albums: 101 statements naively, 2 batched.
    #[graphql(complexity = "list_cost(seed::BANDS as usize, child_complexity)")]
    async fn bands(&self, ctx: &Context<'_>) -> Result<Vec<Band>> {
        Ok(source(ctx)?.all_bands().await?)
    }
}

/// The root mutation.
pub struct Mutation;

#[Object]
impl Mutation {
    /// Renames a user. Later loads of the user in the same request see the new name.
    async fn rename_user(&self, ctx: &Context<'_>, id: ID, name: String) -> Result<User> {
        let id = parse_id(&id)?;
        if name.trim().is_empty() {
            return Err("a user's name cannot be empty".into());
        }
        source(ctx)?
            .rename_user(id, &name)
            .await?
            .ok_or_else(|| format!("there is no user with id {id}").into())
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        self.id.into()
    }

    async fn name(&self) -> &str {
        &self.name
    }

    /// Null for a user without one, with no statement.
    async fn best_friend(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.best_friend_id {
            Some(id) => Ok(source(ctx)?.user(id).await?),
            None => Ok(None),
        }
    }

    /// The user's friends in id order, the first `first` of them if given.
    #[graphql(complexity = "list_cost(seed::MAX_FRIENDS, child_complexity)")]
    async fn friends(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<User>> {
        let first = match first {
            None => usize::MAX,
            Some(n) => {
                usize::try_from(n).map_err(|_| format!("`first` cannot be negative, got {n}"))?
            }
        };
        Ok(source(ctx)?.friends(self.id, first).await?)
    }

    /// The user's friends in id order as a Relay connection: the first `first` (10 if not
    /// given, at most 100) after the cursor `after`, or from the first friend without one.
    #[graphql(
        complexity = "list_cost(friends_connection::page_size_estimate(first), \
                            child_complexity)"
    )]
    async fn friends_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<FriendsConnection> {
        let args = friends_connection::page_args(first, after.as_deref())?;
        Ok(source(ctx)?.friend_page(self.id, args).await?.into())
    }

    /// The messages the user posted.
    #[graphql(complexity = "list_cost(seed::MAX_MESSAGES_PER_USER, child_complexity)")]
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>> {
        Ok(source(ctx)?.messages_by(self.id).await?)
    }
}

#[Object]
impl Message {
    async fn id(&self) -> ID {
        self.id.into()
    }

    async fn message(&self) -> &str {
        &self.message
    }

    /// Null for an anonymous message, with no statement.
    async fn poster(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.poster_id {
            Some(id) => Ok(source(ctx)?.user(id).await?),
            None => Ok(None),
        }
    }
}

#[Object]
impl Band {
    async fn id(&self) -> ID {
        self.id.into()
    }

    async fn name(&self) -> &str {
        &self.name
    }

    #[graphql(complexity = "list_cost(seed::MAX_ALBUMS, child_complexity)")]
    async fn albums(&self, ctx: &Context<'_>) -> Result<Vec<Album>> {
        Ok(source(ctx)?.albums(self.id).await?)
    }
}

#[Object]
impl Album {
    async fn id(&self) -> ID {
        self.id.into()
    }

    async fn title(&self) -> &str {
        &self.title
    }

    async fn band(&self, ctx: &Context<'_>) -> Result<Band> {
        source(ctx)?.band(self.band_id).await?.ok_or_else(|| {
            format!(
                "album {} names band {}, which does not exist",
                self.id, self.band_id
            )
            .into()
        })
    }
}

/// The request's way to the data: its loaders in [`Mode::Batched`], its statements alone in
/// [`Mode::Naive`].
fn source(ctx: &Context<'_>) -> Result<Source> {
    let store = ctx.data::<RequestStore>()?.clone();
    let loaders = match ctx.data::<Mode>()? {
        Mode::Batched => Some(ctx.loaders()?.clone()),
        Mode::Naive => None,
    };
    Ok(Source::from_request(store, loaders))
}

/// Ids are `ID`s on the wire, as GraphQL clients expect, and integers in the database.
fn parse_id(id: &ID) -> Result<Id> {
    id.parse().map_err(|_| {
        format!(
            "invalid id {:?}: ids are integers, such as \"1\"",
            id.as_str()
        )
        .into()
    })
}

/// What a list field costs: its items' cost once per row it may return.
///
/// Capped just over the limit: a list that alone exceeds it is refused all the same, while
/// async-graphql's unchecked sum of the costs of nested and sibling fields cannot overflow.
fn list_cost(rows: usize, child_complexity: usize) -> usize {
    rows.saturating_mul(child_complexity)
        .min(MAX_COMPLEXITY + 1)
}
