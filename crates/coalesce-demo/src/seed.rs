//! The seeds' data, generated the same way on every run.
//!
//! The acceptance numbers (2 queries against 21, 2 against 101) are only meaningful if every run
//! sees the same rows, so the data comes from arithmetic on the ids rather than from a random
//! generator: 100 users, each with a best friend and 4 to 7 friends; 20 messages whose posters
//! repeat among 12 users; 100 bands with 1 to 3 albums each.

use crate::model::{Album, Band, Id, Message, User};

/// How many users the demo data has, ids `1..=USERS`.
pub const USERS: Id = 100;
/// How many messages the demo data has, all with a poster.
pub const MESSAGES: Id = 20;
/// How many bands the demo data has.
pub const BANDS: Id = 100;
/// The most friends a seeded user has; the estimate behind `friends`' query complexity.
pub const MAX_FRIENDS: usize = 7;
/// The most messages a seeded user posted; the estimate behind `messages`' query complexity.
pub const MAX_MESSAGES_PER_USER: usize = 2;
/// The most albums a seeded band has; the estimate behind `albums`' query complexity.
pub const MAX_ALBUMS: usize = 3;

const FIRST_NAMES: [&str; 10] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken",
];
const LAST_NAMES: [&str; 10] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton",
    "Thompson",
];
const GREETINGS: [&str; 5] = [
    "Hello, world",
    "Has anyone seen my keys?",
    "Batching is caching's best friend",
    "One query to rule them all",
    "N+1 considered harmful",
];
const BAND_ADJECTIVES: [&str; 10] = [
    "Quiet", "Electric", "Velvet", "Broken", "Golden", "Midnight", "Paper", "Silver", "Wild",
    "Hollow",
];
const BAND_NOUNS: [&str; 10] = [
    "Foxes", "Engines", "Owls", "Radios", "Tides", "Lanterns", "Kites", "Rivers", "Machines",
    "Ghosts",
];
const ALBUM_WORDS: [&str; 7] = [
    "Dawn", "Static", "Harbor", "Echoes", "Orbit", "Ashes", "Meridian",
];

/// Users `1..=100`, each with a unique name and a best friend other than themselves.
pub fn users() -> Vec<User> {
    (1..=USERS)
        .map(|id| {
            let i = (id - 1) as usize;
            User {
                id,
                name: format!("{} {}", FIRST_NAMES[i % 10], LAST_NAMES[i / 10]),
                // 37 is coprime to 100, and 37·id ≡ id − 1 (mod 100) has no solution: nobody is
                // their own best friend.
                best_friend_id: Some(id * 37 % USERS + 1),
            }
        })
        .collect()
}

/// `(user_id, friend_id)` pairs: user `id` has `4 + id % 4` friends, in steps of 13 ids, so no
/// user befriends themselves and user 1 has exactly the 5 friends that `friends(first: 5)` asks for.
pub fn friendships() -> Vec<(Id, Id)> {
    (1..=USERS)
        .flat_map(|id| (1..=4 + id % 4).map(move |k| (id, (id - 1 + 13 * k) % USERS + 1)))
        .collect()
}

/// Messages `1..=20`; the posters cycle through 12 users, so several messages share a poster and
/// a batch of 20 loads asks for 12 distinct users.
pub fn messages() -> Vec<Message> {
    (1..=MESSAGES)
        .map(|id| Message {
            id,
            message: format!("{} (#{id})", GREETINGS[(id as usize - 1) % GREETINGS.len()]),
            poster_id: Some((id - 1) * 7 % 12 + 1),
        })
        .collect()
}

/// Bands `1..=100`, each with a unique name.
pub fn bands() -> Vec<Band> {
    (1..=BANDS)
        .map(|id| {
            let i = (id - 1) as usize;
            Band {
                id,
                name: format!("The {} {}", BAND_ADJECTIVES[i % 10], BAND_NOUNS[i / 10]),
            }
        })
        .collect()
}

/// Albums, 1 to 3 per band (`1 + band_id % 3`), numbered in band order.
pub fn albums() -> Vec<Album> {
    (1..=BANDS)
        .flat_map(|band_id| (0..1 + band_id % 3).map(move |n| (band_id, n)))
        .zip(1..)
        .map(|((band_id, n), id)| Album {
            id,
            band_id,
            title: format!(
                "{} {}",
                ALBUM_WORDS[(band_id + n) as usize % ALBUM_WORDS.len()],
                ["I", "II", "III"][n as usize]
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nobody_is_their_own_friend_or_best_friend() {
        assert!(friendships().iter().all(|(user, friend)| user != friend));
        assert!(users().iter().all(|u| u.best_friend_id != Some(u.id)));
    }

    #[test]
    fn friendships_name_existing_users_without_repeats() {
        let pairs = friendships();
        let unique: HashSet<_> = pairs.iter().collect();
        assert_eq!(unique.len(), pairs.len());
        assert!(pairs.iter().all(|&(_, f)| (1..=USERS).contains(&f)));
        let most = (1..=USERS)
            .map(|u| pairs.iter().filter(|p| p.0 == u).count())
            .max();
        assert_eq!(most, Some(MAX_FRIENDS));
    }

    #[test]
    fn every_message_has_a_poster_and_posters_repeat() {
        let posters: Vec<Id> = messages().iter().map(|m| m.poster_id.unwrap()).collect();
        let distinct: HashSet<_> = posters.iter().collect();
        assert_eq!(distinct.len(), 12);
        let most = distinct
            .iter()
            .map(|&&p| posters.iter().filter(|&&q| q == p).count())
            .max();
        assert_eq!(most, Some(MAX_MESSAGES_PER_USER));
    }

    #[test]
    fn every_band_has_one_to_three_albums() {
        let albums = albums();
        for band in bands() {
            let n = albums.iter().filter(|a| a.band_id == band.id).count();
            assert!((1..=MAX_ALBUMS).contains(&n), "band {} has {n}", band.id);
        }
    }

    #[test]
    fn names_are_unique() {
        let users: HashSet<_> = users().into_iter().map(|u| u.name).collect();
        let bands: HashSet<_> = bands().into_iter().map(|b| b.name).collect();
        assert_eq!((users.len(), bands.len()), (USERS as usize, BANDS as usize));
    }
}
