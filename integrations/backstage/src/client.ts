/**
 * A small client of `gantry.intake.v1.IntakeService` over gRPC
 * (@grpc/grpc-js), with stubs made at runtime by @grpc/proto-loader from the
 * repository's own `.proto` files: nothing generated is committed, and the
 * contract cannot drift from what intake serves.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BucketPurpose, Environment, Risk, Size } from './rules';

/** What a backend module needs of Backstage's config (a subset of `Config`). */
export interface ConfigReader {
  getString(key: string): string;
  getOptionalString(key: string): string | undefined;
  getOptionalNumber(key: string): number | undefined;
}

export type RequestStatus =
  | 'pending_approval'
  | 'approved'
  | 'rejected'
  | 'cancelled'
  | 'provisioning'
  | 'ready'
  | 'failed'
  | 'unspecified';

/** A request as intake's view knows it. */
export interface GantryRequest {
  requestId: string;
  kind: 'database' | 'bucket' | 'unspecified';
  status: RequestStatus;
  /** The database's or bucket's name. */
  name: string;
  environment: string;
  owner: string;
  autoApprovedByRule: string;
  /** Groups of each approval clause still to be satisfied or satisfied. */
  requiredApprovals: string[][];
  approvals: string[];
  reason: string;
  secretPath: string;
  /** The Backstage entity the catalog export writes for it (`resource:default/…`); empty for buckets. */
  catalogEntity: string;
  /** Stream sequence of the request's last applied event (a uint64, as text). */
  sequence: string;
}

export interface DatabaseRequestInput {
  idempotencyKey: string;
  databaseName: string;
  username?: string;
  owner: string;
  requester: string;
  environment: Environment;
  domain: string;
  risk: Risk;
  size: Size;
}

export interface BucketRequestInput {
  idempotencyKey: string;
  bucketName?: string;
  purpose: BucketPurpose;
  environment: Environment;
  region: string;
  owner: string;
  requester: string;
  retentionDays?: number;
  kmsKeyId?: string;
  replicationTarget?: string;
}

/** One field intake refused, named as in the actions' input (`databaseName`). */
export interface FieldError {
  field: string;
  description: string;
}

/** The operations the actions use; tests substitute their own. */
export interface IntakeApi {
  requestDatabase(input: DatabaseRequestInput): Promise<GantryRequest>;
  requestBucket(input: BucketRequestInput): Promise<GantryRequest>;
  /** One request; `minSequence` (a `sequence` a request call returned) waits until the view has it. */
  getRequest(requestId: string, minSequence?: string): Promise<GantryRequest>;
  /**
   * Calls `onUpdate` with the request now and on every status change, until
   * intake ends the stream (a terminal status), `onUpdate` returns true, or
   * `signal` aborts. Resolves with the last request seen.
   */
  watchRequest(
    requestId: string,
    onUpdate: (request: GantryRequest) => boolean,
    signal?: AbortSignal,
  ): Promise<GantryRequest | undefined>;
  /** Link to the request for people, when `gantry.requestUrlTemplate` is configured. */
  requestUrl(requestId: string): string | undefined;
}

/** An error answer of intake, with its field violations when there are any. */
export class GantryError extends Error {
  readonly code: grpc.status;
  readonly codeName: string;
  readonly fieldErrors: FieldError[];

  constructor(code: grpc.status, details: string, fieldErrors: FieldError[]) {
    const codeName = grpc.status[code] ?? String(code);
    const lines = fieldErrors.map(error => `\n  - ${error.field}: ${error.description}`).join('');
    super(
      fieldErrors.length > 0
        ? `Gantry refused the request (${codeName}), field by field:${lines}`
        : `Gantry answered ${codeName}: ${details}`,
    );
    this.name = 'GantryError';
    this.code = code;
    this.codeName = codeName;
    this.fieldErrors = fieldErrors;
  }
}

/** Where the .proto files are: packed next to dist/, or the repository's. */
export function defaultProtoRoot(): string {
  const candidates = [path.resolve(__dirname, '..', 'proto'), path.resolve(__dirname, '..', '..', '..', 'proto')];
  const found = candidates.find(candidate => fs.existsSync(path.join(candidate, 'gantry', 'intake', 'v1', 'intake.proto')));
  if (!found) {
    throw new Error(`gantry .proto files not found (looked in ${candidates.join(', ')})`);
  }
  return found;
}

// google.rpc.Status and google.rpc.BadRequest: only the fields read here,
// with the numbers of googleapis' google/rpc/{status,error_details}.proto.
const rpcTypes = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'Any', id: 3 },
              },
            },
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            BadRequest: {
              fields: { field_violations: { rule: 'repeated', type: 'FieldViolation', id: 1 } },
              nested: {
                FieldViolation: {
                  fields: { field: { type: 'string', id: 1 }, description: { type: 'string', id: 2 } },
                },
              },
            },
          },
        },
      },
    },
  },
});
const RpcStatus = rpcTypes.lookupType('google.rpc.Status');
const BadRequest = rpcTypes.lookupType('google.rpc.BadRequest');

/** `database_name` → `databaseName`: intake's field names as the actions' inputs name them. */
export function inputFieldName(field: string): string {
  return field.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** Reads the `google.rpc.BadRequest` field violations of a gRPC error, if any. */
export function fieldErrorsOf(error: grpc.ServiceError): FieldError[] {
  const details = error.metadata?.get('grpc-status-details-bin') ?? [];
  const errors: FieldError[] = [];
  for (const detail of details) {
    if (!Buffer.isBuffer(detail)) continue;
    const status = RpcStatus.toObject(RpcStatus.decode(detail), { defaults: true }) as {
      details: { type_url: string; value: Uint8Array }[];
    };
    for (const any of status.details) {
      if (!any.type_url.endsWith('/google.rpc.BadRequest')) continue;
      const badRequest = BadRequest.toObject(BadRequest.decode(any.value), { defaults: true }) as {
        field_violations: FieldError[];
      };
      for (const violation of badRequest.field_violations) {
        errors.push({ field: inputFieldName(violation.field), description: violation.description });
      }
    }
  }
  return errors;
}

function toGantryError(error: grpc.ServiceError): GantryError {
  return new GantryError(error.code, error.details || error.message, fieldErrorsOf(error));
}

const enumValue = (prefix: string, value: string | undefined) =>
  value ? `${prefix}_${value.toUpperCase().replace(/-/g, '_')}` : `${prefix}_UNSPECIFIED`;

const enumText = (prefix: string, value: unknown) =>
  typeof value === 'string' && value.startsWith(`${prefix}_`) ? value.slice(prefix.length + 1).toLowerCase() : 'unspecified';

type WireRequest = Record<string, any>;

/** Turns the wire form of `gantry.intake.v1.Request` into a `GantryRequest`. */
export function fromWire(wire: WireRequest): GantryRequest {
  const spec = wire.database ?? wire.bucket ?? {};
  return {
    requestId: wire.request_id,
    kind: enumText('REQUEST_KIND', wire.kind) as GantryRequest['kind'],
    status: enumText('REQUEST_STATUS', wire.status) as RequestStatus,
    name: spec.database_name ?? spec.bucket_name ?? '',
    environment: enumText('ENVIRONMENT', spec.environment),
    owner: spec.owner ?? '',
    autoApprovedByRule: wire.auto_approved_by_rule ?? '',
    requiredApprovals: (wire.required_approvals ?? []).map((clause: WireRequest) => clause.any_of_groups ?? []),
    approvals: (wire.approvals ?? []).map((approval: WireRequest) => approval.approver?.subject ?? ''),
    reason: wire.reason ?? '',
    secretPath: wire.secret_path ?? '',
    catalogEntity: wire.catalog_entity ?? '',
    sequence: String(wire.sequence ?? '0'),
  };
}

/**
 * The request a command answered with, its `sequence` the command's own
 * stream sequence (what a read passes as `min_sequence` to see the write).
 */
function commandResult(response: WireRequest): GantryRequest {
  const request = fromWire(response.request);
  const sequence = String(response.sequence ?? '0');
  return BigInt(sequence) > BigInt(request.sequence) ? { ...request, sequence } : request;
}

export interface GantryClientOptions {
  /** `http://host:port` (plaintext) or `https://host[:port]` (TLS). */
  baseUrl: string;
  /** Bearer token of Backstage's service account in Gantry. */
  token: string;
  /** PEM file of a private CA for https (the system's roots otherwise). */
  caFile?: string;
  /** e.g. `https://gantry.example.com/requests/{requestId}`. */
  requestUrlTemplate?: string;
  /** Deadline of each unary call, in milliseconds (default 30 s). */
  callTimeoutMs?: number;
  /** Directory holding `gantry/intake/v1/intake.proto` (default: found next to the package). */
  protoRoot?: string;
}

/** The gRPC client of intake. */
export class GantryClient implements IntakeApi {
  private readonly stub: grpc.Client & Record<string, any>;
  private readonly options: GantryClientOptions;

  /** Reads `gantry.baseUrl`, `gantry.token`, `gantry.tls.caFile`, `gantry.requestUrlTemplate`, `gantry.callTimeoutSeconds`. */
  static fromConfig(config: ConfigReader): GantryClient {
    const timeout = config.getOptionalNumber('gantry.callTimeoutSeconds');
    return new GantryClient({
      baseUrl: config.getString('gantry.baseUrl'),
      token: config.getString('gantry.token'),
      caFile: config.getOptionalString('gantry.tls.caFile'),
      requestUrlTemplate: config.getOptionalString('gantry.requestUrlTemplate'),
      callTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
    });
  }

  constructor(options: GantryClientOptions) {
    this.options = options;
    const url = new URL(options.baseUrl);
    let credentials: grpc.ChannelCredentials;
    let defaultPort: string;
    if (url.protocol === 'https:') {
      credentials = grpc.credentials.createSsl(options.caFile ? fs.readFileSync(options.caFile) : null);
      defaultPort = '443';
    } else if (url.protocol === 'http:') {
      credentials = grpc.credentials.createInsecure();
      defaultPort = '80';
    } else {
      throw new Error(`gantry.baseUrl must start with http:// or https://, not ${url.protocol}`);
    }
    const protoRoot = options.protoRoot ?? defaultProtoRoot();
    const definition = protoLoader.loadSync('gantry/intake/v1/intake.proto', {
      includeDirs: [protoRoot],
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as any;
    const Service = loaded.gantry.intake.v1.IntakeService as grpc.ServiceClientConstructor;
    this.stub = new Service(`${url.hostname}:${url.port || defaultPort}`, credentials) as any;
  }

  close(): void {
    this.stub.close();
  }

  requestUrl(requestId: string): string | undefined {
    return this.options.requestUrlTemplate?.replace('{requestId}', encodeURIComponent(requestId));
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${this.options.token}`);
    return metadata;
  }

  private unary<T>(method: string, message: object): Promise<T> {
    const deadline = new Date(Date.now() + (this.options.callTimeoutMs ?? 30_000));
    return new Promise((resolve, reject) => {
      this.stub[method](message, this.metadata(), { deadline }, (error: grpc.ServiceError | null, response: T) =>
        error ? reject(toGantryError(error)) : resolve(response),
      );
    });
  }

  async requestDatabase(input: DatabaseRequestInput): Promise<GantryRequest> {
    const response = await this.unary<WireRequest>('RequestDatabase', {
      idempotency_key: input.idempotencyKey,
      database_name: input.databaseName,
      username: input.username ?? '',
      owner: input.owner,
      requester: input.requester,
      environment: enumValue('ENVIRONMENT', input.environment),
      domain: input.domain,
      risk: enumValue('RISK', input.risk),
      size: enumValue('SIZE', input.size),
    });
    return commandResult(response);
  }

  async requestBucket(input: BucketRequestInput): Promise<GantryRequest> {
    const response = await this.unary<WireRequest>('RequestBucket', {
      idempotency_key: input.idempotencyKey,
      bucket_name: input.bucketName ?? '',
      purpose: enumValue('BUCKET_PURPOSE', input.purpose),
      environment: enumValue('ENVIRONMENT', input.environment),
      region: input.region,
      owner: input.owner,
      requester: input.requester,
      retention_days: input.retentionDays ?? 0,
      kms_key_id: input.kmsKeyId ?? '',
      replication_target: input.replicationTarget ?? '',
    });
    return commandResult(response);
  }

  async getRequest(requestId: string, minSequence = '0'): Promise<GantryRequest> {
    const response = await this.unary<WireRequest>('GetRequest', { request_id: requestId, min_sequence: minSequence });
    return fromWire(response.request);
  }

  async approveRequest(requestId: string, comment = ''): Promise<GantryRequest> {
    const response = await this.unary<WireRequest>('ApproveRequest', { request_id: requestId, comment });
    return commandResult(response);
  }

  /** The catalog as Backstage `kind: Resource` documents (YAML). */
  async exportBackstageCatalog(): Promise<string> {
    const response = await this.unary<{ content: string }>('ExportCatalog', { format: 'CATALOG_FORMAT_BACKSTAGE' });
    return response.content;
  }

  watchRequest(
    requestId: string,
    onUpdate: (request: GantryRequest) => boolean,
    signal?: AbortSignal,
  ): Promise<GantryRequest | undefined> {
    return new Promise((resolve, reject) => {
      let last: GantryRequest | undefined;
      let settled = false;
      const call: grpc.ClientReadableStream<WireRequest> = this.stub.WatchRequest(
        { request_id: requestId },
        this.metadata(),
      );
      const finish = (error?: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(last);
      };
      const onAbort = () => {
        call.cancel();
        finish();
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort);
      call.on('data', (response: WireRequest) => {
        last = fromWire(response.request);
        if (onUpdate(last)) {
          call.cancel();
          finish();
        }
      });
      call.on('error', (error: grpc.ServiceError) => finish(settled ? undefined : toGantryError(error)));
      call.on('end', () => finish());
    });
  }
}
