//! The demo's SQL, written once for SQLite and PostgreSQL and shared by both of its servers (the
//! async one here and `coalesce-demo-blocking`): the tables, and the statements each loader and
//! each naive field runs.

/// The demo's tables. The types read the same in both dialects (`BIGINT` has integer affinity in
/// SQLite), so one script serves both.
pub const CREATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        best_friend_id BIGINT REFERENCES users (id)
    );
    CREATE TABLE IF NOT EXISTS friendships (
        user_id BIGINT NOT NULL REFERENCES users (id),
        friend_id BIGINT NOT NULL REFERENCES users (id),
        PRIMARY KEY (user_id, friend_id)
    );
    CREATE TABLE IF NOT EXISTS messages (
        id BIGINT PRIMARY KEY,
        message TEXT NOT NULL,
        poster_id BIGINT REFERENCES users (id)
    );
    CREATE INDEX IF NOT EXISTS messages_poster_id ON messages (poster_id);
    CREATE TABLE IF NOT EXISTS bands (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS albums (
        id BIGINT PRIMARY KEY,
        band_id BIGINT NOT NULL REFERENCES bands (id),
        title TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS albums_band_id ON albums (band_id);
";

/// SQLite's placeholders for `n` keys, `?, ?, …`: it binds one parameter per key, where
/// PostgreSQL binds the list as one array.
pub fn sqlite_keys(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A `SELECT` that filters on a list of keys, written once for both databases.
pub struct ByKeys {
    /// The statement up to its `WHERE`.
    pub select: &'static str,
    /// The column the keys are matched against.
    pub key: &'static str,
    /// The `ORDER BY` list, so that answers are the same on both databases.
    pub order_by: &'static str,
}

/// Every user.
pub const USERS: &str = "SELECT id, name, best_friend_id FROM users";
/// Users by id (the user loader, `user(id)`).
pub const USERS_BY_ID: ByKeys = ByKeys {
    select: USERS,
    key: "id",
    order_by: "id",
};
/// Each user's friends, as user rows, by the user's id (the friends loader).
pub const FRIENDS_BY_USER: ByKeys = ByKeys {
    select: "SELECT f.user_id, u.id, u.name, u.best_friend_id \
             FROM friendships f JOIN users u ON u.id = f.friend_id",
    key: "f.user_id",
    order_by: "f.user_id, f.friend_id",
};
/// A user's friends' ids (the naive `friends`).
pub const FRIEND_IDS_BY_USER: ByKeys = ByKeys {
    select: "SELECT friend_id FROM friendships",
    key: "user_id",
    order_by: "friend_id",
};
/// Every message.
pub const MESSAGES: &str = "SELECT id, message, poster_id FROM messages";
/// Messages by their poster's id.
pub const MESSAGES_BY_POSTER: ByKeys = ByKeys {
    select: MESSAGES,
    key: "poster_id",
    order_by: "id",
};
/// Every band.
pub const BANDS: &str = "SELECT id, name FROM bands";
/// Bands by id.
pub const BANDS_BY_ID: ByKeys = ByKeys {
    select: BANDS,
    key: "id",
    order_by: "id",
};
/// Albums by their band's id.
pub const ALBUMS_BY_BAND: ByKeys = ByKeys {
    select: "SELECT id, band_id, title FROM albums",
    key: "band_id",
    order_by: "id",
};

/// A `SELECT` of one page of rows per key, for all the keys of a batch in one statement: at
/// most `limit` rows per key, in sort-key order, after a sort key if given (a keyset cursor,
/// never an offset). See [`coalesce_loader::page`].
///
/// Written two ways: [`sql`](PageByKeys::sql) numbers each key's rows with `ROW_NUMBER()`,
/// which both databases run; [`lateral`](PageByKeys::lateral) runs a `LIMIT` subquery per key,
/// which PostgreSQL has and SQLite has not. Both return the same rows, but the window reads
/// every row of a key before it numbers them (a key with 10 000 rows reads 10 000 to return 6),
/// where the subquery reads `limit` rows per key from the index on (key, sort key).
pub struct PageByKeys {
    /// The columns the statement returns, the key's first: names of the inner query's columns.
    pub columns: &'static str,
    /// The inner query's column list, without its `SELECT`.
    pub select: &'static str,
    /// The inner query's `FROM` clause, without its `FROM`.
    pub from: &'static str,
    /// The column the keys are matched against, which partitions the rows; `columns` names it
    /// first.
    pub key: &'static str,
    /// The column the rows are ordered and resumed by: unique within a key.
    pub sort_key: &'static str,
}

impl PageByKeys {
    /// The statement, with placeholders as the database writes them: `keys` matches the key
    /// column against the keys (`IN (?, ?, ?)` on SQLite, `= ANY($1)` on PostgreSQL), `after` is
    /// the placeholder of the sort key to resume after, and `limit` that of the most rows per
    /// key.
    ///
    /// `ROW_NUMBER()` numbers each key's rows in sort-key order, so the database returns at most
    /// `limit` of them per key, whatever the key's row count.
    ///
    /// ```
    /// use coalesce_demo::statements::FRIEND_PAGES;
    ///
    /// let sql = FRIEND_PAGES.sql("= ANY($1)", Some("$2"), "$3");
    /// assert!(sql.contains("ROW_NUMBER() OVER (PARTITION BY f.user_id ORDER BY f.friend_id)"));
    /// assert!(sql.contains("WHERE f.user_id = ANY($1) AND f.friend_id > $2") && sql.contains("WHERE rn <= $3"));
    /// ```
    pub fn sql(&self, keys: &str, after: Option<&str>, limit: &str) -> String {
        let PageByKeys {
            columns,
            select,
            from,
            key,
            sort_key,
        } = self;
        let after = self.after(after);
        format!(
            "SELECT {columns} FROM (\
             SELECT {select}, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {sort_key}) AS rn \
             FROM {from} WHERE {key} {keys}{after}\
             ) AS ranked WHERE rn <= {limit} ORDER BY {first}, rn",
            first = self.first_column(),
        )
    }

    /// The statement for SQLite, for `keys` keys and a cursor if `after`: one `?` per key, then
    /// the cursor's sort key if any, then the limit, in the order they are bound. Both demos'
    /// SQLite stores send this one.
    ///
    /// ```
    /// use coalesce_demo::statements::FRIEND_PAGES;
    ///
    /// let sql = FRIEND_PAGES.sqlite(3, true);
    /// assert!(sql.contains("WHERE f.user_id IN (?, ?, ?) AND f.friend_id > ?") && sql.contains("WHERE rn <= ?"));
    /// ```
    pub fn sqlite(&self, keys: usize, after: bool) -> String {
        self.sql(
            &format!("IN ({})", sqlite_keys(keys)),
            after.then_some("?"),
            "?",
        )
    }

    /// The condition that resumes after the sort key bound at `after`, if any.
    fn after(&self, after: Option<&str>) -> String {
        after.map_or_else(String::new, |after| {
            format!(" AND {} > {after}", self.sort_key)
        })
    }

    /// The key's column among `columns`, which the statement orders by.
    fn first_column(&self) -> &str {
        self.columns.split(',').next().unwrap_or(self.columns)
    }

    /// The statement as a `LATERAL` subquery per key, for PostgreSQL: `keys` is the placeholder
    /// of the keys bound as one array, `after` and `limit` as for [`sql`](PageByKeys::sql).
    ///
    /// ```
    /// use coalesce_demo::statements::FRIEND_PAGES;
    ///
    /// let sql = FRIEND_PAGES.lateral("$1", None, "$2");
    /// assert!(sql.contains("FROM UNNEST($1) AS keys (key) CROSS JOIN LATERAL"));
    /// assert!(sql.contains("WHERE f.user_id = keys.key ORDER BY f.friend_id LIMIT $2"));
    /// ```
    pub fn lateral(&self, keys: &str, after: Option<&str>, limit: &str) -> String {
        format!(
            "SELECT {columns} FROM UNNEST({keys}) AS keys (key) CROSS JOIN LATERAL (\
             SELECT {select}, {sort_key} AS sort_key FROM {from} \
             WHERE {key} = keys.key{after} ORDER BY {sort_key} LIMIT {limit}\
             ) AS page ORDER BY {first}, page.sort_key",
            columns = self.columns,
            select = self.select,
            sort_key = self.sort_key,
            from = self.from,
            key = self.key,
            after = self.after(after),
            first = self.first_column(),
        )
    }
}

/// A page of each user's friends, as user rows, by the user's id, in friend id order (the
/// friend pages loader, and `friendsConnection` naively); the primary key of `friendships` is
/// the index on (key, sort key).
pub const FRIEND_PAGES: PageByKeys = PageByKeys {
    columns: "user_id, id, name, best_friend_id",
    select: "f.user_id, u.id, u.name, u.best_friend_id",
    from: "friendships f JOIN users u ON u.id = f.friend_id",
    key: "f.user_id",
    sort_key: "f.friend_id",
};
