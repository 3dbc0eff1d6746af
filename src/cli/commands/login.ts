// `tsula login` and `tsula logout`, docker's way: the daemon checks the credentials against
// the registry (POST /auth) before they are saved, owner-only, in ~/.tsula/config.json
// (or $TSULA_CONFIG) in docker's "auths" format; pulls send them in X-Registry-Auth.
import type { CommandSpec, Parsed } from '../args.js';
import { StatusError, type Cli } from '../context.js';
import { ApiError } from '../client.js';
import { configPath, getCredentials, registryKey, removeCredentials, saveCredentials } from '../../image/registry/credentials.js';

export const loginSpec: CommandSpec = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  desc: 'Log in to a registry.\nIf no server is specified, the default is defined by the daemon.',
  maxArgs: 1,
  flags: [
    { long: 'password', short: 'p', kind: 'string', desc: 'Password' },
    { long: 'password-stdin', kind: 'bool', desc: 'Take the password from stdin' },
    { long: 'username', short: 'u', kind: 'string', desc: 'Username' },
  ],
};

export const logoutSpec: CommandSpec = {
  name: 'logout',
  usage: '[SERVER]',
  desc: 'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.',
  maxArgs: 1,
  flags: [],
};

async function readAll(cli: Cli): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of cli.in) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Ask on the terminal; with `hidden` the answer is not echoed. */
async function prompt(cli: Cli, question: string, hidden: boolean): Promise<string> {
  const input = cli.in;
  cli.err.write(question);
  if (hidden) input.setRawMode?.(true);
  input.resume();
  input.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let answer = '';
      const onData = (d: string) => {
        for (const ch of d) {
          if (ch === '\r' || ch === '\n') { done(); resolve(answer); return; }
          if (ch === '\u0003') { done(); reject(new StatusError(130)); return; }
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else answer += ch;
        }
      };
      const onEnd = () => { done(); resolve(answer); };
      const done = () => { input.off('data', onData); input.off('end', onEnd); input.pause(); };
      input.on('data', onData);
      input.on('end', onEnd);
    });
  } finally {
    if (hidden) { input.setRawMode?.(false); cli.err.write('\n'); }
  }
}

export async function login(cli: Cli, p: Parsed): Promise<number> {
  let username = p.str('username')?.trim();
  let password = p.str('password');
  const fromStdin = p.bool('password-stdin');
  if (password !== undefined && fromStdin) throw new StatusError(1, '--password and --password-stdin are mutually exclusive');
  if (fromStdin) {
    if (!username) throw new StatusError(1, 'Must provide --username with --password-stdin');
    password = (await readAll(cli)).replace(/[\r\n]+$/, '');
  } else if (password !== undefined) {
    cli.warn('WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
  }
  const server = registryKey(p.args[0]);
  // docker's runLogin: with neither -u nor a password, the stored credentials are tried first
  if (!username && password === undefined && !fromStdin) {
    const stored = await getCredentials(server).catch(() => undefined);
    if (stored?.username && stored.password) {
      cli.print('Authenticating with existing credentials...');
      try {
        await cli.client.json('POST', '/auth', undefined, { username: stored.username, password: stored.password, serveraddress: server });
        return loggedIn(cli, server, { username: stored.username, password: stored.password });
      } catch (e) {
        cli.warn(e instanceof ApiError && e.status === 401 ? 'Stored credentials invalid or expired' : `Login did not succeed, error: ${(e as Error).message}`);
      }
    }
  }
  // docker's ConfigureAuth: no password (none given, or an empty --password-stdin) needs a terminal
  if (!password && !cli.in.isTTY) throw new StatusError(1, 'Error: Cannot perform an interactive login from a non TTY device');
  if (!username || password === undefined) {
    if (!cli.in.isTTY) throw new StatusError(1, 'Error: Cannot perform an interactive login from a non TTY device');
    if (!username) username = (await prompt(cli, 'Username: ', false)).trim();
    if (!username) throw new StatusError(1, 'Error: Non-null Username Required');
    if (password === undefined) password = await prompt(cli, 'Password: ', true);
  }
  if (!password) throw new StatusError(1, 'Error: Non-null Password Required');
  await cli.client.json('POST', '/auth', undefined, { username, password, serveraddress: server });
  return loggedIn(cli, server, { username, password });
}

/** The credentials the daemon took are stored, with docker 20.10's warning and words. */
async function loggedIn(cli: Cli, server: string, creds: { username: string; password: string }): Promise<number> {
  await saveCredentials(server, creds);
  // docker 20.10's unencryptedWarning, printed with a newline of its own
  cli.warn(`WARNING! Your password will be stored unencrypted in ${configPath()}.\nConfigure a credential helper to remove this warning. See\n` +
    'https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n');
  cli.print('Login Succeeded');
  return 0;
}

export async function logout(cli: Cli, p: Parsed): Promise<number> {
  const server = registryKey(p.args[0]);
  // docker 20.10 says so whether or not there was a login to remove
  cli.print(`Removing login credentials for ${server}`);
  await removeCredentials(server);
  return 0;
}
