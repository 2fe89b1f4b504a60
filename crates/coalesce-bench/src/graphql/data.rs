//! The seeds' rows in memory, as the tables the GraphQL scenario's batch functions read: the
//! demo's data without its database, so that only the loaders and the executor are measured.

use std::collections::HashMap;

use coalesce_demo::model::{Album, Band, Id, Message, User};
use coalesce_demo::seed;

use crate::dataset::Dataset;

/// Users by id: the `poster` of each message.
pub struct Users(HashMap<Id, User>);

/// Each band's albums, in id order: the one-to-many loader.
pub struct AlbumsByBand(HashMap<Id, Vec<Album>>);

impl Users {
    /// The seeded users.
    pub fn seeded() -> Self {
        Users(seed::users().into_iter().map(|u| (u.id, u)).collect())
    }
}

impl AlbumsByBand {
    /// The seeded albums, grouped by band.
    pub fn seeded() -> Self {
        let mut by_band: HashMap<Id, Vec<Album>> = HashMap::new();
        for album in seed::albums() {
            by_band.entry(album.band_id).or_default().push(album);
        }
        AlbumsByBand(by_band)
    }
}

impl Dataset for Users {
    type Key = Id;
    type Value = User;

    fn get(&self, id: &Id) -> Option<User> {
        self.0.get(id).cloned()
    }
}

impl Dataset for AlbumsByBand {
    type Key = Id;
    type Value = Vec<Album>;

    fn get(&self, band: &Id) -> Option<Vec<Album>> {
        self.0.get(band).cloned()
    }
}

/// The rows the root fields list, without a loader: every message and every band.
pub struct Lists {
    /// The seeded messages.
    pub messages: Vec<Message>,
    /// The seeded bands.
    pub bands: Vec<Band>,
}

impl Lists {
    /// The seeded lists.
    pub fn seeded() -> Self {
        Lists {
            messages: seed::messages(),
            bands: seed::bands(),
        }
    }
}
