//! The async demo's GraphQL schema, field for field: messages and their posters, users and their
//! friends, bands and their albums, with the same limits on depth and complexity.
//!
//! The rows are the demo's [`model`] types; the GraphQL objects wrap them, since their own
//! resolvers live in the demo crate.

use async_graphql::{Context, EmptySubscription, ID, Object, Result, Schema, SchemaBuilder};
use coalesce_demo::Mode;
use coalesce_demo::model::{self, Id};
use coalesce_demo::schema::{MAX_COMPLEXITY, MAX_DEPTH, Viewer};
use coalesce_demo::seed;
use coalesce_loader::Loaders;
use coalesce_loader_async_graphql::{LoaderContext, LoaderExtension};

use crate::loaders;
use crate::queries::Queries;
use crate::source::Source;

/// The schema type.
pub type BlockingSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema, fetching in `mode`, ready for extensions of your own before
/// [`finish`](SchemaBuilder::finish).
///
/// In [`Mode::Batched`] the [`LoaderExtension`] gives every request fresh loaders over the
/// request's [`Queries`], and its response reports what they did in `extensions.dataloader`.
///
/// ```
/// use async_graphql::extensions::Analyzer;
/// use coalesce_demo::Mode;
/// use coalesce_demo_blocking::{App, Database, schema};
///
/// // Adds each response's complexity and depth to its `extensions`.
/// let schema = schema::builder(Mode::Batched).extension(Analyzer).finish();
/// let app = App::with_schema(Database::in_memory()?, schema);
/// let connection = app.database().connect()?;
/// let response = app.execute(&connection, "{ user(id: 1) { name } }".into(), None);
/// assert_eq!(response.extensions["analyzer"].clone().into_json()?["depth"], 2);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
pub fn builder(mode: Mode) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    let loaders = LoaderExtension::new(move |request| match (mode, request.get::<Queries>()) {
        (Mode::Batched, Some(queries)) => loaders::per_request(queries),
        // Naive: no loaders. Without the request's `Queries` every field fails (`source`).
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
        Ok(source(ctx)?
            .all_messages()
            .await?
            .into_iter()
            .map(Message)
            .collect())
    }

    /// The user with this id, or null.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        Ok(source(ctx)?.user(parse_id(&id)?).await?.map(User))
    }

    /// The caller, named by the `x-user-id` header; null without one.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match ctx.data::<Viewer>()? {
            Viewer(Some(id)) => Ok(source(ctx)?.user(*id).await?.map(User)),
            Viewer(None) => Ok(None),
        }
    }

    /// Every user; the rows also fill the user loader's memo.
    #[graphql(complexity = "list_cost(seed::USERS as usize, child_complexity)")]
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        Ok(source(ctx)?
            .all_users()
            .await?
            .into_iter()
            .map(User)
            .collect())
    }

    /// Every band, each with its albums: 101 statements naively, 2 batched.
    #[graphql(complexity = "list_cost(seed::BANDS as usize, child_complexity)")]
    async fn bands(&self, ctx: &Context<'_>) -> Result<Vec<Band>> {
        Ok(source(ctx)?
            .all_bands()
            .await?
            .into_iter()
            .map(Band)
            .collect())
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
            .map(User)
            .ok_or_else(|| format!("there is no user with id {id}").into())
    }
}

/// A user: a message's poster, somebody's friend.
pub struct User(model::User);

#[Object]
impl User {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Null for a user without one, with no statement.
    async fn best_friend(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.0.best_friend_id {
            Some(id) => Ok(source(ctx)?.user(id).await?.map(User)),
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
        let friends = source(ctx)?.friends(self.0.id, first).await?;
        Ok(friends.into_iter().map(User).collect())
    }

    /// The messages the user posted.
    #[graphql(complexity = "list_cost(seed::MAX_MESSAGES_PER_USER, child_complexity)")]
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>> {
        Ok(source(ctx)?
            .messages_by(self.0.id)
            .await?
            .into_iter()
            .map(Message)
            .collect())
    }
}

/// A message, posted by a user or by nobody.
pub struct Message(model::Message);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    /// Null for an anonymous message, with no statement.
    async fn poster(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.0.poster_id {
            Some(id) => Ok(source(ctx)?.user(id).await?.map(User)),
            None => Ok(None),
        }
    }
}

/// A band, with its albums.
pub struct Band(model::Band);

#[Object]
impl Band {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(complexity = "list_cost(seed::MAX_ALBUMS, child_complexity)")]
    async fn albums(&self, ctx: &Context<'_>) -> Result<Vec<Album>> {
        Ok(source(ctx)?
            .albums(self.0.id)
            .await?
            .into_iter()
            .map(Album)
            .collect())
    }
}

/// An album, always by one band.
pub struct Album(model::Album);

#[Object]
impl Album {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn band(&self, ctx: &Context<'_>) -> Result<Band> {
        let model::Album { id, band_id, .. } = self.0;
        source(ctx)?
            .band(band_id)
            .await?
            .map(Band)
            .ok_or_else(|| format!("album {id} names band {band_id}, which does not exist").into())
    }
}

/// The request's way to the data: its loaders in [`Mode::Batched`], its statements alone in
/// [`Mode::Naive`].
fn source(ctx: &Context<'_>) -> Result<Source> {
    let queries = ctx.data::<Queries>()?.clone();
    let loaders = match ctx.data::<Mode>()? {
        Mode::Batched => Some(ctx.loaders()?.clone()),
        Mode::Naive => None,
    };
    Ok(Source::new(queries, loaders))
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

/// What a list field costs: its items' cost once per row it may return, capped just over the
/// limit so that async-graphql's sum of nested and sibling costs cannot overflow.
fn list_cost(rows: usize, child_complexity: usize) -> usize {
    rows.saturating_mul(child_complexity)
        .min(MAX_COMPLEXITY + 1)
}
