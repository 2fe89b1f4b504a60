-- Ten users and twenty messages, two by each user: the classic N+1 data set.
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS messages;
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT NOT NULL, poster_id INTEGER NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
INSERT INTO users SELECT i, 'user ' || i FROM n WHERE i <= 10;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
INSERT INTO messages SELECT i, 'message ' || i, (i - 1) % 10 + 1 FROM n;
