//! [`Queries`]: the demo's [`Store`] on PostgreSQL, through sqlx. Every statement a request
//! runs, counted with the rows it returned: the `sqlQueries` and `sqlRows` of a response.

use coalesce_loader::page::PageArgs;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool};

use crate::friend_pages;
use crate::model::{Album, Band, Id, Message, User};
use crate::statements::{
    ALBUMS_BY_BAND, BANDS, BANDS_BY_ID, ByKeys, FRIEND_IDS_BY_USER, FRIEND_PAGES, FRIENDS_BY_USER,
    MESSAGES, MESSAGES_BY_POSTER, USERS, USERS_BY_ID,
};
use crate::store::{Cost, Error, Fetch, Store};

/// The database as one request sees it, through sqlx's PostgreSQL pool: each [`Store`] method
/// runs exactly one statement, awaited, and counts it and the rows it returned. The keys of a
/// statement are bound as one array, so none is ever split.
///
/// Built per request and handed to every loader and resolver of that request, whose clones
/// share its [`Cost`]: the counts are that request's alone.
#[derive(Clone, Debug)]
pub struct Queries {
    pool: PgPool,
    cost: Cost,
}

type UserRow = (Id, String, Option<Id>);
type MessageRow = (Id, String, Option<Id>);
type BandRow = (Id, String);
type AlbumRow = (Id, Id, String);
/// A row of [`FRIEND_PAGES`]: the user's id, then the friend's row.
type FriendRow = (Id, Id, String, Option<Id>);

impl Queries {
    /// A fresh count on `pool`.
    pub fn new(pool: PgPool) -> Self {
        Queries {
            pool,
            cost: Cost::default(),
        }
    }
}

impl Store for Queries {
    fn cost(&self) -> &Cost {
        &self.cost
    }

    fn max_keys_per_statement(&self) -> usize {
        // The whole list is one array parameter.
        usize::MAX
    }

    fn all_users(&self) -> Fetch<'_, Vec<User>> {
        Box::pin(self.fetch_all(format!("{USERS} ORDER BY id"), user))
    }

    fn users<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<User>> {
        Box::pin(self.fetch_by_keys(&USERS_BY_ID, ids, user))
    }

    fn friends<'a>(&'a self, user_ids: &'a [Id]) -> Fetch<'a, Vec<(Id, User)>> {
        Box::pin(self.fetch_by_keys(
            &FRIENDS_BY_USER,
            user_ids,
            |(of, id, name, best_friend_id): (Id, Id, String, Option<Id>)| {
                (of, user((id, name, best_friend_id)))
            },
        ))
    }

    fn friend_ids(&self, user_id: Id) -> Fetch<'_, Vec<Id>> {
        Box::pin(async move {
            let ids = [user_id];
            self.fetch_by_keys(&FRIEND_IDS_BY_USER, &ids, |(id,): (Id,)| id)
                .await
        })
    }

    fn friend_pages<'a>(
        &'a self,
        user_ids: &'a [Id],
        args: &'a PageArgs,
    ) -> Fetch<'a, Vec<(Id, User)>> {
        Box::pin(self.fetch_friend_pages(user_ids, args))
    }

    fn all_messages(&self) -> Fetch<'_, Vec<Message>> {
        Box::pin(self.fetch_all(format!("{MESSAGES} ORDER BY id"), message))
    }

    fn messages_by_posters<'a>(&'a self, poster_ids: &'a [Id]) -> Fetch<'a, Vec<Message>> {
        Box::pin(self.fetch_by_keys(&MESSAGES_BY_POSTER, poster_ids, message))
    }

    fn all_bands(&self) -> Fetch<'_, Vec<Band>> {
        Box::pin(self.fetch_all(format!("{BANDS} ORDER BY id"), band))
    }

    fn bands<'a>(&'a self, ids: &'a [Id]) -> Fetch<'a, Vec<Band>> {
        Box::pin(self.fetch_by_keys(&BANDS_BY_ID, ids, band))
    }

    fn albums_by_bands<'a>(&'a self, band_ids: &'a [Id]) -> Fetch<'a, Vec<Album>> {
        Box::pin(self.fetch_by_keys(&ALBUMS_BY_BAND, band_ids, album))
    }

    fn rename_user<'a>(&'a self, id: Id, name: &'a str) -> Fetch<'a, Option<User>> {
        Box::pin(async move {
            self.count_statement();
            let row: Option<UserRow> = sqlx::query_as(
                "UPDATE users SET name = $1 WHERE id = $2 RETURNING id, name, best_friend_id",
            )
            .bind(name)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            self.cost.returned(row.is_some().into());
            Ok(row.map(user))
        })
    }
}

impl Queries {
    /// Counts a statement about to run.
    fn count_statement(&self) {
        self.cost.statement();
    }

    /// Counts the rows a statement returned, and makes a value of each with `into`.
    fn count_rows<R, T>(&self, rows: Vec<R>, into: impl FnMut(R) -> T) -> Vec<T> {
        self.cost.returned(rows.len());
        rows.into_iter().map(into).collect()
    }

    /// Runs `sql` and makes a value of each row with `into`.
    async fn fetch_all<R, T>(&self, sql: String, into: fn(R) -> T) -> Result<Vec<T>, Error>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.count_statement();
        let rows: Vec<R> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        Ok(self.count_rows(rows, into))
    }

    /// Runs `query` for all of `keys` in one statement, `key = ANY($1)` with the keys bound as
    /// one array, and makes a value of each row with `into`.
    async fn fetch_by_keys<R, T>(
        &self,
        query: &ByKeys,
        keys: &[Id],
        into: fn(R) -> T,
    ) -> Result<Vec<T>, Error>
    where
        R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.count_statement();
        let ByKeys {
            select,
            key,
            order_by,
        } = query;
        let sql = format!("{select} WHERE {key} = ANY($1) ORDER BY {order_by}");
        let rows: Vec<R> = sqlx::query_as(&sql)
            .bind(keys)
            .fetch_all(&self.pool)
            .await?;
        Ok(self.count_rows(rows, into))
    }

    /// The store's [`friend_pages`](crate::store::Store::friend_pages): one statement for all
    /// the users, whose ids are bound as one array (3 of PostgreSQL's 65 535 parameters); the
    /// extra friend per user only tells that a next page exists
    /// ([`Pages::insert_rows`](coalesce_loader::page::Pages::insert_rows) lines them up).
    async fn fetch_friend_pages(
        &self,
        user_ids: &[Id],
        args: &PageArgs,
    ) -> Result<Vec<(Id, User)>, Error> {
        let (after, limit) = friend_pages::bounds(args)?;
        self.count_statement();
        let (after_at, limit_at) = match after {
            Some(_) => (Some("$2"), "$3"),
            None => (None, "$2"),
        };
        let sql = FRIEND_PAGES.lateral("$1", after_at, limit_at);
        let mut query = sqlx::query_as(&sql).bind(user_ids);
        if let Some(after) = after {
            query = query.bind(after);
        }
        let rows: Vec<FriendRow> = query.bind(limit).fetch_all(&self.pool).await?;
        Ok(
            self.count_rows(rows, |(user_id, id, name, best_friend_id)| {
                (user_id, user((id, name, best_friend_id)))
            }),
        )
    }
}

fn user((id, name, best_friend_id): UserRow) -> User {
    User {
        id,
        name,
        best_friend_id,
    }
}

fn message((id, message, poster_id): MessageRow) -> Message {
    Message {
        id,
        message,
        poster_id,
    }
}

fn band((id, name): BandRow) -> Band {
    Band { id, name }
}

fn album((id, band_id, title): AlbumRow) -> Album {
    Album { id, band_id, title }
}
