/**
 * Starts a real intake (`gantry serve intake`) for the live test, on a spare
 * port with its own Postgres schema, JetStream stream and subject prefix and
 * its own tokens file, the way libs/testkit does for the Rust tests, and
 * removes all of it afterwards. Postgres and NATS are the local ones
 * (GANTRY_TEST_DATABASE_URL, GANTRY_TEST_NATS_URL, as in scripts/test.sh).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as PgClient } from 'pg';
import { GantryClient, GantryError } from '../../src/client';

export const DATABASE_URL = process.env.GANTRY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.GANTRY_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** The gantry binary: GANTRY_BIN, else the workspace's debug build. */
export function gantryBinary(): string {
  return process.env.GANTRY_BIN
    ? path.resolve(process.env.GANTRY_BIN)
    : path.resolve(__dirname, '..', '..', '..', '..', 'target', 'debug', 'gantry');
}

export interface RunningIntake {
  baseUrl: string;
  /** Clear tokens by subject. */
  tokens: Record<string, string>;
  client(subject: string): GantryClient;
  /** intake's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise(resolve => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startIntake(principals: Record<string, string[]>): Promise<RunningIntake> {
  const binary = gantryBinary();
  const id = randomBytes(8).toString('hex');
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'gantry-backstage-'));
  const names = { schema: `bs_${id}`, stream: `BS_${id}`, prefix: `bs${id}` };

  // The tokens file holds SHA-256 hashes only (libs/runtime/src/auth.rs).
  const tokens: Record<string, string> = {};
  const entries = Object.entries(principals).map(([subject, groups]) => {
    const token = `test-${subject}-${randomBytes(16).toString('hex')}`;
    tokens[subject] = token;
    const sha256 = createHash('sha256').update(token).digest('hex');
    return `  - subject: ${subject}\n    groups: [${groups.join(', ')}]\n    sha256: ${sha256}\n`;
  });
  const tokensFile = path.join(directory, 'tokens.yaml');
  fs.writeFileSync(tokensFile, `tokens:\n${entries.join('')}`, { mode: 0o600 });

  const [port, metricsPort] = [await sparePort(), await sparePort()];
  const logFile = path.join(directory, 'intake.log');
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(binary, ['serve', 'intake'], {
    env: {
      ...process.env,
      GANTRY_DATABASE__URL: DATABASE_URL,
      GANTRY_DATABASE__MAX_CONNECTIONS: '4',
      GANTRY_NATS__URL: NATS_URL,
      GANTRY_INTAKE__LISTEN: `127.0.0.1:${port}`,
      GANTRY_INTAKE__SCHEMA: names.schema,
      GANTRY_STREAM__NAME: names.stream,
      GANTRY_STREAM__SUBJECT_PREFIX: names.prefix,
      GANTRY_AUTH__TOKENS_FILE: tokensFile,
      GANTRY_TELEMETRY__METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      GANTRY_TELEMETRY__LOG_FORMAT: 'pretty',
    },
    stdio: ['ignore', logFd, logFd],
  });
  fs.closeSync(logFd);
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');

  const baseUrl = `http://127.0.0.1:${port}`;
  const clients: GantryClient[] = [];
  const client = (subject: string) => {
    const made = new GantryClient({ baseUrl, token: tokens[subject], callTimeoutMs: 10_000 });
    clients.push(made);
    return made;
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clients.forEach(made => made.close());
    child.kill('SIGTERM');
    if (!(await exited(child, 15_000))) {
      child.kill('SIGKILL');
      await exited(child, 5_000);
    }
    await dropSchema(names.schema);
    await deleteStream(names.stream);
    fs.rmSync(directory, { recursive: true, force: true });
  };

  // Up once an authenticated call gets an answer (NOT_FOUND for a random id).
  const probe = client(Object.keys(principals)[0]);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const output = log();
      await stop();
      throw new Error(`gantry serve intake exited with ${child.exitCode} during start-up:\n${output}`);
    }
    try {
      await probe.getRequest('00000000-0000-4000-8000-000000000000');
      break;
    } catch (error) {
      if (error instanceof GantryError && error.codeName === 'NOT_FOUND') break;
      if (Date.now() > deadline) {
        const output = log();
        await stop();
        throw new Error(`intake did not answer on ${baseUrl} within 60s (${error}):\n${output}`);
      }
      await new Promise(resolve => setTimeout(resolve, 250));
    }
  }
  return { baseUrl, tokens, client, log, stop };
}

async function dropSchema(schema: string): Promise<void> {
  const pg = new PgClient({ connectionString: DATABASE_URL });
  await pg.connect();
  try {
    await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await pg.end();
  }
}

/**
 * Deletes a JetStream stream with one request on NATS' text protocol
 * (`$JS.API.STREAM.DELETE.<name>`): a client library for one call in a
 * test's clean-up is not worth the dependency.
 */
export function deleteStream(stream: string): Promise<void> {
  const url = new URL(NATS_URL);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port || 4222), url.hostname);
    const inbox = `_INBOX.gantry_backstage_${randomBytes(6).toString('hex')}`;
    let buffer = '';
    const timer = setTimeout(() => done(new Error(`NATS did not answer the delete of stream ${stream}`)), 10_000);
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.on('error', done);
    socket.on('data', chunk => {
      buffer += chunk.toString('utf8');
      if (buffer.startsWith('INFO ') && buffer.includes('\r\n')) {
        buffer = buffer.slice(buffer.indexOf('\r\n') + 2);
        const user = url.username ? `,"user":${JSON.stringify(decodeURIComponent(url.username))},"pass":${JSON.stringify(decodeURIComponent(url.password))}` : '';
        socket.write(
          `CONNECT {"verbose":false,"pedantic":false,"name":"gantry-backstage-test"${user}}\r\n` +
            `SUB ${inbox} 1\r\nPUB $JS.API.STREAM.DELETE.${stream} ${inbox} 0\r\n\r\n`,
        );
      }
      if (buffer.includes('PING\r\n')) {
        buffer = buffer.replace('PING\r\n', '');
        socket.write('PONG\r\n');
      }
      if (buffer.startsWith('-ERR')) {
        done(new Error(`NATS: ${buffer.trim()}`));
        return;
      }
      const message = /MSG \S+ 1 (\d+)\r\n/.exec(buffer);
      if (message) {
        const start = message.index + message[0].length;
        const payload = buffer.slice(start, start + Number(message[1]));
        if (payload.length < Number(message[1])) return;
        const answer = JSON.parse(payload);
        // 10059: stream not found (already gone) is fine.
        if (answer.success || answer.error?.err_code === 10059) done();
        else done(new Error(`deleting stream ${stream}: ${payload}`));
      }
    });
  });
}
