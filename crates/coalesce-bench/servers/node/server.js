'use strict';
// The demo's schema subset that run-matrix.sh measures, as a Node user would write it: graphql-js
// over node:http, one graphql/dataloader per request for each relation, better-sqlite3 on the
// SQLite file the Rust demo created and seeded.
//
//   node server.js --db FILE [--port 8001] [--workers 1]
//
// With --workers N > 1, node:cluster forks N processes sharing the port, each with its own
// connection. POST /graphql takes {"query": ...}; the answer is {"data": ...} (or "errors").

const cluster = require('node:cluster');
const http = require('node:http');
const { parseArgs } = require('node:util');

const { values: args } = parseArgs({
  options: {
    db: { type: 'string' },
    port: { type: 'string', default: '8001' },
    workers: { type: 'string', default: '1' },
  },
});
if (!args.db) {
  console.error('usage: node server.js --db FILE [--port 8001] [--workers 1]');
  process.exit(2);
}
const workers = Number(args.workers);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
  cluster.on('exit', (worker, code) => {
    console.error(`node server: worker ${worker.process.pid} exited with ${code}`);
    process.exit(1);
  });
} else {
  serve();
}

function serve() {
  const Database = require('better-sqlite3');
  const DataLoader = require('dataloader');
  const { graphql, buildSchema } = require('graphql');

  const db = new Database(args.db, { fileMustExist: true });
  const allMessages = db.prepare('SELECT id, message, poster_id FROM messages ORDER BY id');
  const allBands = db.prepare('SELECT id, name FROM bands ORDER BY id');

  // `WHERE x IN (?, ?, ...)` with one placeholder per key, as better-sqlite3's users write it.
  const byKeys = (select, key, orderBy) => (keys) =>
    db.prepare(`${select} WHERE ${key} IN (${keys.map(() => '?').join(', ')}) ORDER BY ${orderBy}`)
      .all(...keys);

  const usersById = byKeys('SELECT id, name, best_friend_id FROM users', 'id', 'id');
  const albumsByBand = byKeys('SELECT id, band_id, title FROM albums', 'band_id', 'id');

  // One set of loaders per request, so that nothing is cached across requests.
  function loaders() {
    return {
      user: new DataLoader(async (ids) => {
        const found = new Map(usersById(ids).map((row) => [row.id, row]));
        return ids.map((id) => found.get(id) ?? null);
      }),
      albums: new DataLoader(async (bandIds) => {
        const grouped = new Map(bandIds.map((id) => [id, []]));
        for (const row of albumsByBand(bandIds)) grouped.get(row.band_id).push(row);
        return bandIds.map((id) => grouped.get(id));
      }),
    };
  }

  const schema = buildSchema(`
    type User { id: ID! name: String! }
    type Message { id: ID! message: String! poster: User }
    type Album { id: ID! title: String! }
    type Band { id: ID! name: String! albums: [Album!]! }
    type Query { messages: [Message!]! bands: [Band!]! }
  `);
  // Root fields through rootValue; the relations as resolvers on the rows' own fields, which
  // graphql-js's default resolver calls with (args, context).
  const rootValue = {
    messages: () => allMessages.all().map((row) => ({
      ...row,
      poster: (_args, ctx) => (row.poster_id == null ? null : ctx.loaders.user.load(row.poster_id)),
    })),
    bands: () => allBands.all().map((row) => ({
      ...row,
      albums: (_args, ctx) => ctx.loaders.albums.load(row.id),
    })),
  };

  const send = (res, status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/graphql') {
      send(res, 404, { errors: [{ message: 'POST /graphql' }] });
      return;
    }
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        send(res, 400, { errors: [{ message: `the body is not JSON: ${error.message}` }] });
        return;
      }
      const result = await graphql({
        schema,
        source: body.query,
        rootValue,
        contextValue: { loaders: loaders() },
        variableValues: body.variables,
        operationName: body.operationName,
      });
      send(res, 200, result);
    });
  }).listen(Number(args.port), '127.0.0.1', () => {
    console.error(`node server: pid ${process.pid} on http://127.0.0.1:${args.port}/graphql`);
  });
}
