"""The demo's schema subset that run-matrix.sh measures, as a Strawberry user would write it:
Strawberry's ASGI app on uvicorn (uvloop and httptools, as `uvicorn[standard]` installs), one
Strawberry DataLoader per request for each relation, the standard library's sqlite3 on the SQLite
file the Rust demo created and seeded.

    DB=FILE python3 -m uvicorn server:app --port 8002 [--workers 2]

Each worker process opens its own connection. POST /graphql takes {"query": ...}.
"""

import os
import sqlite3
from collections import defaultdict
from typing import Optional

import strawberry
from strawberry.asgi import GraphQL
from strawberry.dataloader import DataLoader
from strawberry.types import Info

# The event loop is one thread, and every statement runs on it, as sqlite3's users do: a local
# file answers in microseconds, faster than a hand-off to a thread would.
DB = sqlite3.connect(f"file:{os.environ['DB']}?mode=rw", uri=True, check_same_thread=False)


def by_keys(select, key, order_by, keys):
    """`WHERE key IN (?, ?, ...)` with one placeholder per key."""
    placeholders = ", ".join("?" * len(keys))
    return DB.execute(f"{select} WHERE {key} IN ({placeholders}) ORDER BY {order_by}", keys)


async def load_users(ids):
    found = {
        row[0]: User(id=strawberry.ID(str(row[0])), name=row[1])
        for row in by_keys("SELECT id, name FROM users", "id", "id", list(ids))
    }
    return [found.get(user_id) for user_id in ids]


async def load_albums(band_ids):
    grouped = defaultdict(list)
    rows = by_keys("SELECT id, band_id, title FROM albums", "band_id", "id", list(band_ids))
    for album_id, band_id, title in rows:
        grouped[band_id].append(Album(id=strawberry.ID(str(album_id)), title=title))
    return [grouped[band_id] for band_id in band_ids]


@strawberry.type
class User:
    id: strawberry.ID
    name: str


@strawberry.type
class Album:
    id: strawberry.ID
    title: str


@strawberry.type
class Message:
    id: strawberry.ID
    message: str
    poster_id: strawberry.Private[Optional[int]]

    @strawberry.field
    async def poster(self, info: Info) -> Optional[User]:
        if self.poster_id is None:
            return None
        return await info.context["users"].load(self.poster_id)


@strawberry.type
class Band:
    band_id: strawberry.Private[int]
    name: str

    @strawberry.field
    async def albums(self, info: Info) -> list[Album]:
        return await info.context["albums"].load(self.band_id)


@strawberry.type
class Query:
    @strawberry.field
    def messages(self) -> list[Message]:
        rows = DB.execute("SELECT id, message, poster_id FROM messages ORDER BY id")
        return [Message(id=strawberry.ID(str(i)), message=m, poster_id=p) for i, m, p in rows]

    @strawberry.field
    def bands(self) -> list[Band]:
        rows = DB.execute("SELECT id, name FROM bands ORDER BY id")
        return [Band(band_id=i, name=name) for i, name in rows]


class App(GraphQL):
    async def get_context(self, request, response):
        # Fresh loaders per request, so that nothing is cached across requests.
        return {"users": DataLoader(load_fn=load_users), "albums": DataLoader(load_fn=load_albums)}


app = App(strawberry.Schema(query=Query), graphql_ide=None)
