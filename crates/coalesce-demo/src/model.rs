//! The rows of the demo's tables, as the database stores them.
//!
//! Each row keeps its foreign keys as plain ids rather than nested objects: following a key is a
//! GraphQL field's job, and doing it field by field is exactly where the N+1 problem lives.

use serde::{Deserialize, Serialize};

/// A database id: every table's primary key is a `BIGINT`.
pub type Id = i64;

/// A user: a message's poster, somebody's friend.
///
/// Serialized as the `/api/users` endpoint answers, so that the loader of the `api_users` example
/// reads the same type back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Primary key.
    pub id: Id,
    /// Display name; the mutation changes it.
    pub name: String,
    /// Every seeded user has one; `None` only for users added some other way.
    pub best_friend_id: Option<Id>,
}

/// A message, posted by a user or by nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Primary key.
    pub id: Id,
    /// The text.
    pub message: String,
    /// `None` for an anonymous message, whose `poster` resolves to null without a query.
    pub poster_id: Option<Id>,
}

/// A band, the "one" side of bands → albums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    /// Primary key.
    pub id: Id,
    /// The band's name.
    pub name: String,
}

/// An album, always by one band.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Album {
    /// Primary key.
    pub id: Id,
    /// The band that made it.
    pub band_id: Id,
    /// The album's title.
    pub title: String,
}
