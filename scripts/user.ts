import { parseArgs } from 'node:util';
import { Accounts, InvalidUsernameError, UpstreamAccountError, WeakPasswordError } from '../src/authorization/accounts.js';
import { generatePassword } from '../src/authorization/passwords.js';
import { loadConfig } from '../src/config.js';
import { ConfigError, StartupError } from '../src/errors.js';
import { openStore } from '../src/storage/open-store.js';
import { UsernameTakenError } from '../src/storage/store.js';

/**
 * `npm run user -- add|passwd|list`: local accounts, in the same data directory the server uses
 * (DATA_DIR). Safe while the server runs. A password comes from stdin with --password-stdin;
 * otherwise one is generated and printed once.
 */
const USAGE = `Usage:
  npm run user -- add <username> [--name "Display Name"] [--password-stdin]
  npm run user -- passwd <username> [--password-stdin]
  npm run user -- list`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { name: { type: 'string' }, 'password-stdin': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, username] = positionals;
  if (values.help || !command || (command !== 'list' && !username)) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig();
  const store = openStore(config, undefined, { checkpointer: false });
  try {
    const accounts = new Accounts(store, config.passwordHashCost);
    const password = async () => (values['password-stdin'] ? readStdin() : generatePassword());
    switch (command) {
      case 'add': {
        const chosen = await password();
        const user = await accounts.add(username!, chosen, values.name);
        console.log(`Added ${user.username}${user.displayName !== user.username ? ` (${user.displayName})` : ''}.`);
        if (!values['password-stdin']) console.log(`Password (shown once): ${chosen}`);
        return 0;
      }
      case 'passwd': {
        const chosen = await password();
        if (!(await accounts.setPassword(username!, chosen))) {
          console.error(`No user named "${username}".`);
          return 1;
        }
        console.log(`Changed the password of ${username!.toLowerCase()}; their sign-ins, grants and tokens are revoked.`);
        if (!values['password-stdin']) console.log(`New password (shown once): ${chosen}`);
        return 0;
      }
      case 'list': {
        const users = await accounts.list();
        if (users.length === 0) console.log('No users yet: the server creates "admin" on its first start.');
        for (const user of users) {
          console.log(`${user.username}\t${user.displayName}\t${user.signInMethod}\tcreated ${new Date(user.createdAt).toISOString()}`);
        }
        return 0;
      }
      default:
        console.log(USAGE);
        return 2;
    }
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = [ConfigError, StartupError, InvalidUsernameError, WeakPasswordError, UsernameTakenError, UpstreamAccountError];
    if (known.some((type) => error instanceof type)) {
      console.error(`Error: ${(error as Error).message}`);
      process.exit(1);
    }
    throw error;
  },
);
