import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Basic authentication from the client's side, and the users file it checks.

/** The Authorization value of HTTP Basic for `user` and `pw`. */
export function authorization(user: string, pw: string): string {
  return `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
}

/** TestProxy.get options that log in as `user` with `pw`. */
export function basic(user: string, pw: string): { headers: Record<string, string> } {
  return { headers: { authorization: authorization(user, pw) } };
}

/** An auth_basic_user_file of `lines` (each ended by a newline) in a new temporary folder: its path. */
export function usersFile(lines: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lbconf-users-')), 'users');
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}
