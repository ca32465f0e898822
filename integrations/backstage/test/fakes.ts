import type {
  BucketRequestInput,
  DatabaseRequestInput,
  GantryRequest,
  IntakeApi,
  RequestStatus,
} from '../src/client';

/** An intake in memory: one request per idempotency key, as the real one. */
export class FakeIntake implements IntakeApi {
  readonly databaseCalls: DatabaseRequestInput[] = [];
  readonly bucketCalls: BucketRequestInput[] = [];
  readonly byKey = new Map<string, GantryRequest>();
  /** What each watch call streams: a list of statuses, or an error to throw. */
  watches: (RequestStatus[] | Error)[] = [];
  watchCalls = 0;
  failWith?: Error;

  constructor(private readonly urlTemplate?: string) {}

  requestUrl(requestId: string) {
    return this.urlTemplate?.replace('{requestId}', requestId);
  }

  private make(key: string, fields: Partial<GantryRequest>): GantryRequest {
    if (this.failWith) throw this.failWith;
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const request: GantryRequest = {
      requestId: `00000000-0000-4000-8000-${String(this.byKey.size + 1).padStart(12, '0')}`,
      kind: 'database',
      status: 'pending_approval',
      name: '',
      environment: 'prod',
      owner: '',
      autoApprovedByRule: '',
      requiredApprovals: [['databases-rds']],
      approvals: [],
      reason: '',
      secretPath: '',
      catalogEntity: '',
      sequence: '1',
      ...fields,
    };
    this.byKey.set(key, request);
    return request;
  }

  async requestDatabase(input: DatabaseRequestInput) {
    this.databaseCalls.push(input);
    const autoApproved = input.environment === 'dev' && input.size === 'small';
    return this.make(input.idempotencyKey, {
      kind: 'database',
      name: input.databaseName,
      environment: input.environment,
      owner: input.owner,
      status: autoApproved ? 'approved' : 'pending_approval',
      autoApprovedByRule: autoApproved ? 'dev-small-databases' : '',
      catalogEntity: `resource:default/${input.databaseName.replace(/_/g, '-')}-${input.environment}`,
    });
  }

  async requestBucket(input: BucketRequestInput) {
    this.bucketCalls.push(input);
    return this.make(input.idempotencyKey, {
      kind: 'bucket',
      name: input.bucketName || `${input.owner}-${input.purpose}-${input.environment}`,
      environment: input.environment,
      owner: input.owner,
    });
  }

  private request(requestId: string, status: RequestStatus): GantryRequest {
    return {
      requestId,
      kind: 'database',
      status,
      name: 'orders',
      environment: 'prod',
      owner: 'team-orders',
      autoApprovedByRule: '',
      requiredApprovals: [['databases-rds']],
      approvals: [],
      reason: status === 'rejected' ? 'not this quarter' : '',
      secretPath: status === 'ready' ? 'goldenpath/prod/orders/postgres' : '',
      catalogEntity: 'resource:default/orders-prod',
      sequence: '1',
    };
  }

  async getRequest(requestId: string) {
    return this.request(requestId, 'pending_approval');
  }

  async watchRequest(requestId: string, onUpdate: (request: GantryRequest) => boolean, signal?: AbortSignal) {
    const script = this.watches[Math.min(this.watchCalls, this.watches.length - 1)];
    this.watchCalls += 1;
    if (script instanceof Error) throw script;
    let last: GantryRequest | undefined;
    for (const status of script) {
      last = this.request(requestId, status);
      if (onUpdate(last)) return last;
    }
    // An open stream with nothing new: wait for the caller to give up.
    if (script.length > 0 && !['rejected', 'cancelled', 'failed', 'ready'].includes(last!.status)) {
      await new Promise<void>(resolve => signal?.addEventListener('abort', () => resolve()));
    }
    return last;
  }
}
