import { createMockActionContext as createContext } from '@backstage/plugin-scaffolder-node-test-utils';
import * as grpc from '@grpc/grpc-js';
import * as os from 'node:os';
import { Validator } from 'jsonschema';
import { createBucketRequestAction } from '../src/actions/bucket';
import { idempotencyKey } from '../src/actions/common';
import { createDatabaseRequestAction } from '../src/actions/database';
import { createRequestWaitAction } from '../src/actions/wait';
import { GantryError } from '../src/client';
import { FakeIntake } from './fakes';

/** A mock context on a fixed workspace (the actions never touch it; no temporary directory per test). */
const createMockActionContext: typeof createContext = options =>
  createContext({ workspacePath: os.tmpdir(), ...options });

const alice = { ref: 'user:default/alice', entity: { metadata: { name: 'alice' } } } as any;

const databaseInput = {
  databaseName: 'orders',
  owner: 'group:default/team-orders',
  environment: 'prod' as const,
  domain: 'payments',
  risk: 'high' as const,
  size: 'small' as const,
};

function outputsOf(ctx: { output: unknown }): Record<string, unknown> {
  return Object.fromEntries((ctx.output as jest.Mock).mock.calls);
}

describe('gantry:database:request', () => {
  it('submits the form with the task id as idempotency key and sets the outputs', async () => {
    const intake = new FakeIntake('https://gantry.example.com/requests/{requestId}');
    const action = createDatabaseRequestAction({ client: intake });
    const ctx = createMockActionContext({
      input: databaseInput,
      task: { id: 'task-1' },
      user: alice,
    });
    await action.handler(ctx as any);

    expect(intake.databaseCalls).toEqual([
      {
        idempotencyKey: 'backstage:task-1:mock-step-id',
        databaseName: 'orders',
        username: undefined,
        owner: 'team-orders',
        requester: 'alice',
        environment: 'prod',
        domain: 'payments',
        risk: 'high',
        size: 'small',
      },
    ]);
    const outputs = outputsOf(ctx);
    expect(outputs.requestId).toBe('00000000-0000-4000-8000-000000000001');
    expect(outputs.status).toBe('pending_approval');
    expect(outputs.entityRef).toBe('resource:default/orders-prod');
    expect(outputs.requestUrl).toBe('https://gantry.example.com/requests/00000000-0000-4000-8000-000000000001');
    expect(outputs.links).toEqual([
      expect.objectContaining({ url: outputs.requestUrl }),
      expect.objectContaining({ entityRef: 'resource:default/orders-prod' }),
    ]);
    expect(outputs.secretPath).toBeUndefined();
  });

  it('a retried task sends the same key and gets the same request', async () => {
    const intake = new FakeIntake();
    const action = createDatabaseRequestAction({ client: intake });
    const first = createMockActionContext({ input: databaseInput, task: { id: 'task-2' }, user: alice });
    const retry = createMockActionContext({ input: databaseInput, task: { id: 'task-2' }, user: alice });
    const other = createMockActionContext({ input: databaseInput, task: { id: 'task-3' }, user: alice });
    await action.handler(first as any);
    await action.handler(retry as any);
    await action.handler(other as any);
    const keys = intake.databaseCalls.map(call => call.idempotencyKey);
    expect(keys[0]).toBe(keys[1]);
    expect(keys[2]).not.toBe(keys[0]);
    expect(outputsOf(retry).requestId).toBe(outputsOf(first).requestId);
    expect(outputsOf(other).requestId).not.toBe(outputsOf(first).requestId);
    expect(outputsOf(first).links).toEqual([expect.objectContaining({ entityRef: 'resource:default/orders-prod' })]);
  });

  it("shows intake's field errors field by field", async () => {
    const intake = new FakeIntake();
    intake.failWith = new GantryError(grpc.status.INVALID_ARGUMENT, 'invalid request', [
      { field: 'databaseName', description: 'must match ^[a-z][a-z0-9_]*$' },
      { field: 'owner', description: 'required' },
    ]);
    const action = createDatabaseRequestAction({ client: intake });
    const ctx = createMockActionContext({ input: databaseInput, user: alice });
    const logged = jest.spyOn(ctx.logger, 'error');
    await expect(action.handler(ctx as any)).rejects.toThrow(
      /field by field:\n {2}- databaseName: must match \^\[a-z\]\[a-z0-9_\]\*\$\n {2}- owner: required/,
    );
    expect(logged.mock.calls.map(call => call[0])).toEqual([
      'databaseName: must match ^[a-z][a-z0-9_]*$',
      'owner: required',
    ]);
    expect(ctx.output).not.toHaveBeenCalled();
  });

  it('takes the requester from the input, else the signed-in user, else refuses', async () => {
    const intake = new FakeIntake();
    const action = createDatabaseRequestAction({ client: intake });
    await action.handler(createMockActionContext({ input: { ...databaseInput, requester: 'bob' }, user: alice }) as any);
    await action.handler(
      createMockActionContext({ input: databaseInput, task: { id: 't' }, user: { ref: 'user:default/carol' } }) as any,
    );
    expect(intake.databaseCalls.map(call => call.requester)).toEqual(['bob', 'carol']);
    await expect(
      action.handler(createMockActionContext({ input: databaseInput, task: { id: 'u' } }) as any),
    ).rejects.toThrow(/requester is required/);
  });
});

describe('gantry:bucket:request', () => {
  it('submits the bucket form and has no catalog entity', async () => {
    const intake = new FakeIntake();
    const action = createBucketRequestAction({ client: intake });
    const ctx = createMockActionContext({
      input: { purpose: 'logs', environment: 'prod', region: 'eu-west-1', owner: 'team-obs', retentionDays: 30 },
      task: { id: 'task-9' },
      user: alice,
    });
    await action.handler(ctx as any);
    expect(intake.bucketCalls[0]).toMatchObject({
      idempotencyKey: 'backstage:task-9:mock-step-id',
      purpose: 'logs',
      owner: 'team-obs',
      requester: 'alice',
      retentionDays: 30,
    });
    const outputs = outputsOf(ctx);
    expect(outputs.entityRef).toBeUndefined();
    expect(outputs.links).toEqual([]);
    expect(outputs.status).toBe('pending_approval');
  });
});

describe('gantry:request:wait', () => {
  const requestId = '00000000-0000-4000-8000-000000000007';

  it('logs each status change and stops at the target', async () => {
    const intake = new FakeIntake();
    intake.watches = [['pending_approval', 'pending_approval', 'approved', 'provisioning', 'ready']];
    const action = createRequestWaitAction({ client: intake });
    const ctx = createMockActionContext({ input: { requestId, until: 'ready', timeoutMinutes: 1 } });
    const info = jest.spyOn(ctx.logger, 'info');
    await action.handler(ctx as any);
    const lines = info.mock.calls.map(call => String(call[0]));
    expect(lines.filter(line => line.includes(' is '))).toEqual([
      expect.stringContaining('is pending_approval; needs approval from databases-rds'),
      expect.stringContaining('is approved'),
      expect.stringContaining('is provisioning'),
      expect.stringContaining('is ready; credentials at goldenpath/prod/orders/postgres'),
    ]);
    expect(outputsOf(ctx)).toEqual({
      requestId,
      status: 'ready',
      timedOut: false,
      secretPath: 'goldenpath/prod/orders/postgres',
    });
  });

  it('until approved is reached by anything further along', async () => {
    const intake = new FakeIntake();
    intake.watches = [['provisioning']];
    const ctx = createMockActionContext({ input: { requestId, until: 'approved', timeoutMinutes: 1 } });
    await createRequestWaitAction({ client: intake }).handler(ctx as any);
    expect(outputsOf(ctx)).toMatchObject({ status: 'provisioning', timedOut: false });
  });

  it('fails the step when the request is rejected, with the reason', async () => {
    const intake = new FakeIntake();
    intake.watches = [['pending_approval', 'rejected']];
    const ctx = createMockActionContext({ input: { requestId, until: 'approved', timeoutMinutes: 1 } });
    await expect(createRequestWaitAction({ client: intake }).handler(ctx as any)).rejects.toThrow(
      /was rejected: not this quarter/,
    );
    expect(outputsOf(ctx)).toMatchObject({ status: 'rejected', reason: 'not this quarter' });
  });

  it('reports the status at the timeout, and fails only when asked to', async () => {
    const intake = new FakeIntake();
    intake.watches = [['pending_approval']];
    const action = createRequestWaitAction({ client: intake });
    const ctx = createMockActionContext({ input: { requestId, until: 'ready', timeoutMinutes: 0.002 } });
    const warn = jest.spyOn(ctx.logger, 'warn');
    await action.handler(ctx as any);
    expect(outputsOf(ctx)).toEqual({ requestId, status: 'pending_approval', timedOut: true });
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/still pending_approval .* goes on in Gantry/));

    const strict = createMockActionContext({
      input: { requestId, until: 'ready', timeoutMinutes: 0.002, failOnTimeout: true },
    });
    await expect(action.handler(strict as any)).rejects.toThrow(/still pending_approval/);
  });

  it('watches again when the stream breaks off', async () => {
    const intake = new FakeIntake();
    intake.watches = [new GantryError(grpc.status.UNAVAILABLE, 'connection reset', []), ['approved']];
    const ctx = createMockActionContext({ input: { requestId, until: 'approved', timeoutMinutes: 1 } });
    await createRequestWaitAction({ client: intake }).handler(ctx as any);
    expect(intake.watchCalls).toBe(2);
    expect(outputsOf(ctx)).toMatchObject({ status: 'approved', timedOut: false });
  });

  it('does not retry an answer such as NOT_FOUND', async () => {
    const intake = new FakeIntake();
    intake.watches = [new GantryError(grpc.status.NOT_FOUND, 'no such request', [])];
    const ctx = createMockActionContext({ input: { requestId, until: 'approved', timeoutMinutes: 1 } });
    await expect(createRequestWaitAction({ client: intake }).handler(ctx as any)).rejects.toThrow(/NOT_FOUND/);
    expect(intake.watchCalls).toBe(1);
  });
});

describe('idempotency keys', () => {
  it('stay within intake’s 128 printable bytes', () => {
    expect(idempotencyKey('6f1c', 'request db', 'gantry:database:request')).toBe('backstage:6f1c:request_db');
    expect(idempotencyKey('6f1c', undefined, 'gantry:database:request')).toBe(
      'backstage:6f1c:gantry:database:request',
    );
    const long = idempotencyKey('6f1c', 'x'.repeat(200), 'a');
    expect(long).toMatch(/^backstage:[0-9a-f]{64}$/);
    expect(long).toBe(idempotencyKey('6f1c', 'x'.repeat(200), 'a'));
  });
});

describe('input schemas carry the platform rules', () => {
  const validator = new Validator();
  const valid = (schema: unknown, input: object) => validator.validate(input, schema as any).valid;
  const database = createDatabaseRequestAction({ client: new FakeIntake() }).schema!.input;
  const bucket = createBucketRequestAction({ client: new FakeIntake() }).schema!.input;
  const wait = createRequestWaitAction({ client: new FakeIntake() }).schema!.input;

  it('accepts a good database request and requires its fields', () => {
    expect(valid(database, databaseInput)).toBe(true);
    for (const field of ['databaseName', 'owner', 'environment', 'domain', 'risk', 'size']) {
      const { [field]: _, ...missing } = databaseInput as Record<string, unknown>;
      expect([field, valid(database, missing)]).toEqual([field, false]);
    }
    expect(valid(database, { ...databaseInput, owner: 'team-orders', username: 'orders_rw', requester: 'a-1' })).toBe(true);
    expect(valid(database, { ...databaseInput, databaseName: 'a'.repeat(63) })).toBe(true);
    expect(valid(database, { ...databaseInput, databaseName: 'orders_clone' })).toBe(true);
  });

  it.each([
    ['databaseName', 'Orders'],
    ['databaseName', '2orders'],
    ['databaseName', 'or-ders'],
    ['databaseName', 'postgres'],
    ['databaseName', 'template1'],
    ['databaseName', 'pg_stat'],
    ['databaseName', 'public'],
    ['databaseName', 'a'.repeat(64)],
    ['username', 'Admin'],
    ['username', 'orders_user_clone'],
    ['owner', 'Team Orders'],
    ['owner', 'component:default/team-orders'],
    ['requester', 'Alice!'],
    ['domain', ''],
    ['environment', 'production'],
    ['risk', 'extreme'],
    ['size', 'huge'],
  ])('refuses database %s = %j', (field, value) => {
    expect(valid(database, { ...databaseInput, [field]: value })).toBe(false);
  });

  it('refuses bad bucket requests', () => {
    const good = { purpose: 'logs', environment: 'prod', region: 'eu-west-1', owner: 'team-obs', retentionDays: 30 };
    expect(valid(bucket, good)).toBe(true);
    expect(valid(bucket, { ...good, region: 'us-gov-west-1', bucketName: 'team-obs-logs' })).toBe(true);
    for (const bad of [
      { bucketName: 'Bad.Bucket' },
      { bucketName: 'ab' },
      { bucketName: 'xn--bucket' },
      { region: 'europe' },
      { purpose: 'backups' },
      { retentionDays: 3651 },
      { kmsKeyId: 'key with spaces' },
    ]) {
      expect([bad, valid(bucket, { ...good, ...bad })]).toEqual([bad, false]);
    }
  });

  it('wants a request id to wait for', () => {
    expect(valid(wait, { requestId: '0193a0c4-7d2e-7b3a-9f00-1234567890ab', until: 'approved' })).toBe(true);
    expect(valid(wait, { requestId: 'nope' })).toBe(false);
    expect(valid(wait, { requestId: '0193a0c4-7d2e-7b3a-9f00-1234567890ab', until: 'provisioned' })).toBe(false);
  });
});
