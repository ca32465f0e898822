/**
 * The gRPC client against an in-process grpc-js server built from the same
 * .proto files: the wire names, enums, bearer token, status details and the
 * watch stream, without the Rust binary.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { GantryClient, GantryError, defaultProtoRoot, type GantryRequest } from '../src/client';

const definition = protoLoader.loadSync('gantry/intake/v1/intake.proto', {
  includeDirs: [defaultProtoRoot()],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const service = (grpc.loadPackageDefinition(definition) as any).gantry.intake.v1.IntakeService.service;

const rpc = protobuf.Root.fromJSON({
  nested: {
    Status: {
      fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 }, details: { rule: 'repeated', type: 'Any', id: 3 } },
    },
    Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
    BadRequest: { fields: { field_violations: { rule: 'repeated', type: 'Violation', id: 1 } } },
    Violation: { fields: { field: { type: 'string', id: 1 }, description: { type: 'string', id: 2 } } },
  },
});

function badRequest(violations: { field: string; description: string }[]): grpc.Metadata {
  const BadRequest = rpc.lookupType('BadRequest');
  const Status = rpc.lookupType('Status');
  const detail = BadRequest.encode(BadRequest.fromObject({ field_violations: violations })).finish();
  const status = Status.encode(
    Status.fromObject({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'invalid request',
      details: [{ type_url: 'type.googleapis.com/google.rpc.BadRequest', value: detail }],
    }),
  ).finish();
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(status));
  return metadata;
}

const wireRequest = (status: string, extra: object = {}) => ({
  request_id: '0193a0c4-7d2e-7b3a-9f00-1234567890ab',
  kind: 'REQUEST_KIND_DATABASE',
  status,
  database: { database_name: 'orders', owner: 'team-orders', environment: 'ENVIRONMENT_PROD' },
  required_approvals: [{ any_of_groups: ['databases-rds'] }],
  sequence: '42',
  ...extra,
});

describe('GantryClient', () => {
  let server: grpc.Server;
  let client: GantryClient;
  const received: any[] = [];
  const tokens: (string | undefined)[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(service, {
      RequestDatabase(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
        received.push(call.request);
        tokens.push(call.metadata.get('authorization')[0] as string | undefined);
        if (call.request.database_name === 'Orders') {
          callback({
            code: grpc.status.INVALID_ARGUMENT,
            details: 'database_name: must match ^[a-z][a-z0-9_]*$; environment: required',
            metadata: badRequest([
              { field: 'database_name', description: 'must match ^[a-z][a-z0-9_]*$' },
              { field: 'environment', description: 'required; one of dev, test, staging, prod' },
            ]),
          });
          return;
        }
        callback(null, { request: wireRequest('REQUEST_STATUS_PENDING_APPROVAL'), sequence: '42' });
      },
      GetRequest(_call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
        callback({ code: grpc.status.NOT_FOUND, details: 'no such request' });
      },
      WatchRequest(call: grpc.ServerWritableStream<any, any>) {
        call.write({ request: wireRequest('REQUEST_STATUS_PENDING_APPROVAL') });
        call.write({ request: wireRequest('REQUEST_STATUS_APPROVED', { approvals: [{ approver: { subject: 'bob' } }] }) });
        call.write({ request: wireRequest('REQUEST_STATUS_READY', { secret_path: 'goldenpath/prod/orders/postgres' }) });
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    client = new GantryClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: 'secret-token',
      requestUrlTemplate: 'https://gantry.example.com/requests/{requestId}',
    });
  });

  afterAll(() => {
    client.close();
    server.forceShutdown();
  });

  it('sends the form in intake’s wire names and enums, with the bearer token', async () => {
    const request = await client.requestDatabase({
      idempotencyKey: 'backstage:t:s',
      databaseName: 'orders',
      owner: 'team-orders',
      requester: 'alice',
      environment: 'prod',
      domain: 'payments',
      risk: 'high',
      size: 'xlarge',
    });
    expect(tokens[0]).toBe('Bearer secret-token');
    expect(received[0]).toMatchObject({
      idempotency_key: 'backstage:t:s',
      database_name: 'orders',
      username: '',
      environment: 'ENVIRONMENT_PROD',
      risk: 'RISK_HIGH',
      size: 'SIZE_XLARGE',
    });
    expect(request).toMatchObject<Partial<GantryRequest>>({
      requestId: '0193a0c4-7d2e-7b3a-9f00-1234567890ab',
      kind: 'database',
      status: 'pending_approval',
      name: 'orders',
      environment: 'prod',
      requiredApprovals: [['databases-rds']],
      sequence: '42',
    });
    expect(client.requestUrl(request.requestId)).toBe(
      'https://gantry.example.com/requests/0193a0c4-7d2e-7b3a-9f00-1234567890ab',
    );
  });

  it('reads the google.rpc.BadRequest detail into field errors named as the inputs', async () => {
    const failure = await client
      .requestDatabase({
        idempotencyKey: '',
        databaseName: 'Orders',
        owner: 'team-orders',
        requester: 'alice',
        environment: undefined as any,
        domain: 'payments',
        risk: 'high',
        size: 'small',
      })
      .catch(error => error);
    expect(failure).toBeInstanceOf(GantryError);
    expect(received[1].environment).toBe('ENVIRONMENT_UNSPECIFIED');
    expect(failure.codeName).toBe('INVALID_ARGUMENT');
    expect(failure.fieldErrors).toEqual([
      { field: 'databaseName', description: 'must match ^[a-z][a-z0-9_]*$' },
      { field: 'environment', description: 'required; one of dev, test, staging, prod' },
    ]);
  });

  it('turns other answers into errors with their code', async () => {
    await expect(client.getRequest('0193a0c4-7d2e-7b3a-9f00-1234567890ab')).rejects.toMatchObject({
      codeName: 'NOT_FOUND',
      fieldErrors: [],
      message: 'Gantry answered NOT_FOUND: no such request',
    });
  });

  it('follows the watch stream, and stops early when asked', async () => {
    const seen: string[] = [];
    const last = await client.watchRequest('0193a0c4-7d2e-7b3a-9f00-1234567890ab', request => {
      seen.push(request.status);
      return false;
    });
    expect(seen).toEqual(['pending_approval', 'approved', 'ready']);
    expect(last).toMatchObject({ status: 'ready', secretPath: 'goldenpath/prod/orders/postgres' });

    const early = await client.watchRequest('0193a0c4-7d2e-7b3a-9f00-1234567890ab', request => request.status === 'approved');
    expect(early?.status).toBe('approved');
    expect(early?.approvals).toEqual(['bob']);
  });

  it('refuses a base URL that is neither http nor https', () => {
    expect(() => new GantryClient({ baseUrl: 'grpc://intake:50051', token: 't' })).toThrow(/http:\/\/ or https:\/\//);
  });
});
