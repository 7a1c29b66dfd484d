// The child process of store-check.ts: `node store-check-child.js DIR '["db", …]' '["added", …]'` opens
// the LMDB environment in DIR read-only and reads every key and value of the main database
// and of the named ones, as raw bytes, so that every page a daemon could reach is touched
// once; a database among the added ones (newer than the store) may be missing. Exit status 0: all read; 1: LMDB reported an error (its message on stderr); a
// damaged page may instead end this process by a signal, which is why it is a process.

import { open } from 'lmdb';

const [directory, databasesJson, addedJson = '[]'] = process.argv.slice(2);

function readAll(): number {
  if (directory === undefined || databasesJson === undefined) throw new Error('usage: store-check-child DIR DATABASES_JSON [ADDED_JSON]');
  const wanted = JSON.parse(databasesJson) as string[];
  const added = JSON.parse(addedJson) as string[];
  const root = open({ path: directory, readOnly: true, maxDbs: Math.max(1, wanted.length), encoding: 'binary', keyEncoding: 'binary' });
  try {
    let records = 0;
    const names: string[] = [];
    const databases = [root];
    for (const name of wanted) {
      const database = root.openDB({ name, encoding: 'binary', keyEncoding: 'binary' }) as typeof root | undefined;
      if (database === undefined && added.includes(name)) continue;
      if (database === undefined) throw new Error(`its database ${JSON.stringify(name)} is missing`);
      names.push(name);
      databases.push(database);
    }
    // Values come out as copies of their bytes: every leaf and overflow page is read. A
    // damaged branch page may end a walk early without an error, so the walk's count must
    // match the entry count its parent records for the database (kept outside its pages).
    for (const [index, database] of databases.entries()) {
      let read = 0;
      for (const entry of database.getRange({})) read += entry.value === undefined ? 0 : 1;
      const recorded = (database.getStats() as { entryCount?: number }).entryCount;
      if (recorded !== undefined && read !== recorded) {
        const which = index === 0 ? 'the main database' : `database ${JSON.stringify(names[index - 1])}`;
        throw new Error(`${which}: ${read} records readable of the ${recorded} it holds (damaged pages)`);
      }
      records += read;
    }
    return records;
  } finally {
    void root.close();
  }
}

try {
  process.stdout.write(`${readAll()} records\n`);
} catch (error) {
  process.stderr.write(`${(error as Error).message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = 1;
}
