// Another process holding the server's database: `node sqlite-lock-holder.mjs <file> IMMEDIATE|EXCLUSIVE`
// opens it, begins a transaction of that kind (the write lock), prints "locked", and rolls back on
// SIGUSR2 (then prints "released" and exits). What a backup tool, `npm run user` or an sqlite3 shell
// in the middle of a write transaction does to the server.
import Database from 'better-sqlite3';

const [file, mode] = process.argv.slice(2);
if (!file || !['IMMEDIATE', 'EXCLUSIVE'].includes(mode)) {
  process.stderr.write('usage: sqlite-lock-holder.mjs <database file> IMMEDIATE|EXCLUSIVE\n');
  process.exit(2);
}
const db = new Database(file, { fileMustExist: true });
db.exec(`BEGIN ${mode}`);
process.stdout.write('locked\n');
process.once('SIGUSR2', () => {
  db.exec('ROLLBACK');
  db.close();
  process.stdout.write('released\n');
  process.exit(0);
});
setInterval(() => {}, 60_000);
