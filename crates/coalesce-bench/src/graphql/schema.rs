//! The seeds' messages and bands as a GraphQL schema, its resolvers written once against
//! [`Fetch`], so every library serves the same executor, the same fields and the same rows.

use std::sync::Arc;

use async_graphql::{Context, EmptyMutation, EmptySubscription, ID, Object, Result, Schema};
use coalesce_demo::model::{self, Id};
use futures_util::future::BoxFuture;

use super::data::Lists;

/// The scenario's schema type.
pub type BenchSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// How a resolver follows a key: through one request's loaders of some library.
///
/// A trait object, so that one schema serves every library; the box per followed key costs
/// every library the same.
pub trait Fetch: Send + Sync {
    /// User `id`, or `None`.
    fn user(&self, id: Id) -> BoxFuture<'_, Option<model::User>>;
    /// Band `band`'s albums.
    fn albums(&self, band: Id) -> BoxFuture<'_, Vec<model::Album>>;
}

/// The request data resolvers find their [`Fetch`] in.
pub type RequestFetch = Arc<dyn Fetch>;

/// The schema over `lists`, without limits: the queries are fixed.
pub fn build(lists: Lists) -> BenchSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(lists)
        .finish()
}

/// The root query.
pub struct Query;

#[Object]
impl Query {
    /// Every message.
    async fn messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>> {
        let lists = ctx.data::<Lists>()?;
        Ok(lists.messages.iter().cloned().map(Message).collect())
    }

    /// Every band.
    async fn bands(&self, ctx: &Context<'_>) -> Result<Vec<Band>> {
        let lists = ctx.data::<Lists>()?;
        Ok(lists.bands.iter().cloned().map(Band).collect())
    }
}

/// A message, whose poster is followed through the request's loader.
pub struct Message(model::Message);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    async fn poster(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.poster_id else {
            return Ok(None);
        };
        Ok(ctx.data::<RequestFetch>()?.user(id).await.map(User))
    }
}

/// A user.
pub struct User(model::User);

#[Object]
impl User {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}

/// A band, whose albums are followed through the request's loader.
pub struct Band(model::Band);

#[Object]
impl Band {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn albums(&self, ctx: &Context<'_>) -> Result<Vec<Album>> {
        let albums = ctx.data::<RequestFetch>()?.albums(self.0.id).await;
        Ok(albums.into_iter().map(Album).collect())
    }
}

/// An album.
pub struct Album(model::Album);

#[Object]
impl Album {
    async fn id(&self) -> ID {
        self.0.id.into()
    }

    async fn title(&self) -> &str {
        &self.0.title
    }
}
