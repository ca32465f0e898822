/**
 * Against a real intake (`gantry serve intake`, started here on its own
 * port, schema and stream; scripts/test.sh passes GANTRY_BIN and
 * GANTRY_LIVE_TEST=required). Without a binary the suite is skipped, unless
 * required.
 */
import {
  DefaultNamespaceEntityPolicy,
  EntityPolicies,
  FieldFormatEntityPolicy,
  SchemaValidEntityPolicy,
  resourceEntityV1alpha1Validator,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import { createMockActionContext as createContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseAllDocuments } from 'yaml';
import { createBucketRequestAction } from '../src/actions/bucket';
import { createDatabaseRequestAction } from '../src/actions/database';
import { createRequestWaitAction } from '../src/actions/wait';
import { GantryClient, GantryError } from '../src/client';
import { gantryBinary, startIntake, type RunningIntake } from './support/intake';

const createMockActionContext: typeof createContext = options =>
  createContext({ workspacePath: os.tmpdir(), ...options });

const binary = gantryBinary();
const required = process.env.GANTRY_LIVE_TEST === 'required';
const available = fs.existsSync(binary);

if (!available) {
  if (required) {
    test('the gantry binary is there', () => {
      throw new Error(`GANTRY_LIVE_TEST=required but ${binary} does not exist (set GANTRY_BIN)`);
    });
  } else {
    // eslint-disable-next-line no-console
    console.warn(`live test skipped: no gantry binary at ${binary} (cargo build -p gantry, or set GANTRY_BIN)`);
  }
}

const outputsOf = (ctx: { output: unknown }) => Object.fromEntries((ctx.output as jest.Mock).mock.calls);
const alice = { ref: 'user:default/alice', entity: { metadata: { name: 'alice' } } } as any;

(available ? describe : describe.skip)('against a running intake', () => {
  let intake: RunningIntake;
  let backstage: GantryClient;
  const suffix = randomBytes(4).toString('hex');
  const devDatabase = `scratch_${suffix}`;
  const devTask = randomUUID();
  let devRequestId: string;

  beforeAll(async () => {
    intake = await startIntake({ backstage: ['backstage'], bob: ['databases-rds'] });
    backstage = intake.client('backstage');
  }, 90_000);

  afterAll(async () => {
    await intake?.stop();
  }, 60_000);

  const databaseInput = (databaseName: string, environment: 'dev' | 'prod') => ({
    databaseName,
    owner: 'group:default/team-orders',
    environment,
    domain: 'payments',
    risk: 'low' as const,
    size: 'small' as const,
  });

  it('the action submits a request: dev + small is approved by policy', async () => {
    const submitted = jest.spyOn(backstage, 'requestDatabase');
    const action = createDatabaseRequestAction({ client: backstage });
    const ctx = createMockActionContext({ input: databaseInput(devDatabase, 'dev'), task: { id: devTask }, user: alice });
    await action.handler(ctx as any);
    const answered = await submitted.mock.results[0].value;
    submitted.mockRestore();
    const outputs = outputsOf(ctx);
    expect(outputs).toMatchObject({
      status: 'approved',
      autoApprovedByRule: 'dev-small-databases',
      entityRef: `resource:default/scratch-${suffix}-dev`,
    });
    expect(outputs.requestId).toMatch(/^[0-9a-f-]{36}$/);
    devRequestId = outputs.requestId;
    // The view follows the log: read with the sequence the command answered.
    const stored = await backstage.getRequest(devRequestId, answered.sequence);
    expect(stored).toMatchObject({ name: devDatabase, owner: 'team-orders', status: 'approved' });
  });

  it('a retried task gets the same request, and nothing new is appended', async () => {
    const before = await backstage.getRequest(devRequestId);
    const action = createDatabaseRequestAction({ client: backstage });
    const retry = createMockActionContext({ input: databaseInput(devDatabase, 'dev'), task: { id: devTask }, user: alice });
    await action.handler(retry as any);
    expect(outputsOf(retry).requestId).toBe(devRequestId);
    expect((await backstage.getRequest(devRequestId)).sequence).toBe(before.sequence);

    // Another task asking for the same name is a different request: intake
    // refuses it while the first holds the name.
    const other = createMockActionContext({ input: databaseInput(devDatabase, 'dev'), task: { id: randomUUID() }, user: alice });
    await expect(action.handler(other as any)).rejects.toMatchObject({ codeName: 'ALREADY_EXISTS' });
  });

  it('bad input comes back as field errors, field by field', async () => {
    const action = createDatabaseRequestAction({ client: backstage });
    const ctx = createMockActionContext({
      // What the form would refuse, sent anyway (as a hand-written template could).
      input: { databaseName: 'Orders', owner: 'x', environment: 'production', domain: 'pay ments', risk: 'high', size: 'small' } as any,
      task: { id: randomUUID() },
      user: { ref: 'user:default/Alice.Smith' },
    });
    const logged = jest.spyOn(ctx.logger, 'error');
    const failure = await action.handler(ctx as any).then(
      () => undefined,
      error => error,
    );
    expect(failure).toBeInstanceOf(GantryError);
    expect(failure.codeName).toBe('INVALID_ARGUMENT');
    const fields = (failure as GantryError).fieldErrors.map(error => error.field);
    expect(fields.sort()).toEqual(['databaseName', 'domain', 'environment', 'requester']);
    expect(failure.message).toMatch(/field by field:\n {2}- /);
    expect(logged.mock.calls.map(call => String(call[0]).split(':')[0]).sort()).toEqual(fields);
  });

  it('gantry:request:wait follows the dev + small request to approved', async () => {
    const ctx = createMockActionContext({ input: { requestId: devRequestId, until: 'approved', timeoutMinutes: 1 } });
    const info = jest.spyOn(ctx.logger, 'info');
    await createRequestWaitAction({ client: backstage }).handler(ctx as any);
    expect(outputsOf(ctx)).toEqual({ requestId: devRequestId, status: 'approved', timedOut: false });
    expect(info.mock.calls.map(call => String(call[0]))).toContainEqual(
      expect.stringContaining(`request ${devRequestId} is approved; auto-approved by rule dev-small-databases`),
    );
  });

  it('gantry:request:wait logs each change of a prod request until an approver approves', async () => {
    const request = createMockActionContext({
      input: databaseInput(`orders_${suffix}`, 'prod'),
      task: { id: randomUUID() },
      user: alice,
    });
    await createDatabaseRequestAction({ client: backstage }).handler(request as any);
    const { requestId, status } = outputsOf(request);
    expect(status).toBe('pending_approval');

    const ctx = createMockActionContext({ input: { requestId, until: 'approved', timeoutMinutes: 1 } });
    const info = jest.spyOn(ctx.logger, 'info');
    const waiting = createRequestWaitAction({ client: backstage }).handler(ctx as any);
    await new Promise(resolve => setTimeout(resolve, 500));
    await intake.client('bob').approveRequest(requestId, 'lgtm');
    await waiting;
    expect(outputsOf(ctx)).toEqual({ requestId, status: 'approved', timedOut: false });
    const changes = info.mock.calls.map(call => String(call[0])).filter(line => line.includes(' is '));
    expect(changes).toEqual([
      expect.stringContaining('is pending_approval; needs approval from databases-rds'),
      expect.stringContaining('is approved'),
    ]);
  });

  it('gantry:request:wait ends at its timeout with the current status', async () => {
    const ctx = createMockActionContext({ input: { requestId: devRequestId, until: 'ready', timeoutMinutes: 0.02 } });
    await createRequestWaitAction({ client: backstage }).handler(ctx as any);
    expect(outputsOf(ctx)).toEqual({ requestId: devRequestId, status: 'approved', timedOut: true });
  });

  it('the bucket action submits a request', async () => {
    const ctx = createMockActionContext({
      input: { purpose: 'logs', environment: 'dev', region: 'eu-west-1', owner: `team-${suffix}`, retentionDays: 7 },
      task: { id: randomUUID() },
      user: alice,
    });
    const submitted = jest.spyOn(backstage, 'requestBucket');
    await createBucketRequestAction({ client: backstage }).handler(ctx as any);
    const { sequence } = await submitted.mock.results[0].value;
    submitted.mockRestore();
    const { requestId, status, autoApprovedByRule } = outputsOf(ctx);
    expect({ status, autoApprovedByRule }).toEqual({ status: 'approved', autoApprovedByRule: 'dev-buckets' });
    expect((await backstage.getRequest(requestId, sequence)).name).toBe(`team-${suffix}-logs-dev-eu-west-1`);
  });

  // Backstage names are at most 63 characters; so are Postgres names, and
  // intake's entity name adds the environment to the database name.
  const longestDatabase = `long_${suffix}_`.padEnd(63, 'x');
  let longestEntityRef = '';

  it('the longest legal database name gets an entity name Backstage accepts', async () => {
    const ctx = createMockActionContext({
      input: { ...databaseInput(longestDatabase, 'prod'), environment: 'staging' },
      task: { id: randomUUID() },
      user: alice,
    });
    await createDatabaseRequestAction({ client: backstage }).handler(ctx as any);
    longestEntityRef = outputsOf(ctx).entityRef;
    expect(longestEntityRef).toMatch(/^resource:default\/long-[0-9a-f]{8}-x*-[0-9a-f]{8}-staging$/);
    expect(longestEntityRef.length - 'resource:default/'.length).toBeLessThanOrEqual(63);
  });

  it("intake's catalog export is entities Backstage's catalog accepts, including the requested database", async () => {
    const policy = EntityPolicies.allOf([
      new DefaultNamespaceEntityPolicy(),
      new SchemaValidEntityPolicy(),
      new FieldFormatEntityPolicy(),
    ]);
    let entities: Entity[] = [];
    const deadline = Date.now() + 10_000;
    // The export reads the view, which follows the log a moment behind.
    while (Date.now() < deadline) {
      const documents = parseAllDocuments(await backstage.exportBackstageCatalog());
      entities = documents.map(document => document.toJS()).filter(Boolean);
      const names = entities.map(entity => `resource:default/${entity.metadata.name}`);
      if (names.includes(`resource:default/orders-${suffix}-prod`) && names.includes(longestEntityRef)) break;
      await new Promise(resolve => setTimeout(resolve, 200));
    }
    const refs = [];
    for (const entity of entities) {
      const checked = await policy.enforce(entity);
      expect(checked).toBeDefined();
      await expect(resourceEntityV1alpha1Validator.check(checked!)).resolves.toBe(true);
      refs.push(stringifyEntityRef(checked!));
    }
    expect(refs).toEqual(
      expect.arrayContaining([
        `resource:default/scratch-${suffix}-dev`,
        `resource:default/orders-${suffix}-prod`,
        longestEntityRef,
      ]),
    );
  });
});
