import { createHash } from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { GantryError, type GantryRequest, type IntakeApi } from '../client';

/** Longest idempotency key intake accepts. */
const IDEMPOTENCY_KEY_MAX_BYTES = 128;

/**
 * The idempotency key of a step: the scaffolder task id, qualified by the
 * step id so one template may request several resources. Retrying a task
 * (Backstage re-runs it with the same task and step ids) therefore sends the
 * same key, and intake answers with the first request instead of making a
 * second one.
 */
export function idempotencyKey(taskId: string, stepId: string | undefined, actionId: string): string {
  const step = (stepId || actionId).replace(/[^A-Za-z0-9._:-]/g, '_');
  const key = `backstage:${taskId}:${step}`;
  if (key.length <= IDEMPOTENCY_KEY_MAX_BYTES && /^[\x21-\x7e]+$/.test(taskId)) {
    return key;
  }
  return `backstage:${createHash('sha256').update(`${taskId}\n${step}`).digest('hex')}`;
}

/**
 * The requester: the input when given, else the signed-in user's name
 * (`user:default/alice` → `alice`).
 */
export function requesterOf(
  input: string | undefined,
  user: { entity?: { metadata?: { name?: string } }; ref?: string } | undefined,
): string {
  if (input) return input;
  const name = user?.entity?.metadata?.name ?? user?.ref?.replace(/^.*[:/]/, '');
  if (!name) {
    throw new Error('requester is required: pass it as input, or run the task as a signed-in user');
  }
  return name;
}

export interface Link {
  title: string;
  url?: string;
  entityRef?: string;
  icon?: string;
}

/** The outputs every request action sets. */
export interface RequestOutputs {
  requestId: string;
  status: string;
  autoApprovedByRule: string;
  requestUrl?: string;
  entityRef?: string;
  secretPath?: string;
  links: Link[];
}

export function requestOutputs(client: IntakeApi, request: GantryRequest): RequestOutputs {
  const links: Link[] = [];
  const requestUrl = client.requestUrl(request.requestId);
  if (requestUrl) {
    links.push({ title: `Gantry request ${request.requestId}`, url: requestUrl, icon: 'dashboard' });
  }
  // Intake's catalog export makes an entity of every database holding its
  // name (intake names it); Backstage shows it once the catalog has read the export.
  const entityRef = request.catalogEntity || undefined;
  if (entityRef) {
    links.push({ title: `Database ${request.name} (${request.environment}) in the catalog`, entityRef, icon: 'catalog' });
  }
  return {
    requestId: request.requestId,
    status: request.status,
    autoApprovedByRule: request.autoApprovedByRule,
    ...(requestUrl ? { requestUrl } : {}),
    ...(entityRef ? { entityRef } : {}),
    ...(request.secretPath ? { secretPath: request.secretPath } : {}),
    links,
  };
}

/** Logs intake's field errors one by one (the task log shows each), then rethrows. */
export function reportGantryError(logger: LoggerService, error: unknown): never {
  if (error instanceof GantryError && error.fieldErrors.length > 0) {
    for (const fieldError of error.fieldErrors) {
      logger.error(`${fieldError.field}: ${fieldError.description}`);
    }
  }
  throw error;
}

/** Sets every output of `outputs` on the context. */
export function setOutputs(output: (name: any, value: any) => void, outputs: object): void {
  for (const [name, value] of Object.entries(outputs)) {
    output(name, value);
  }
}

/** Describes a request's state in one log line. */
export function describe(request: GantryRequest): string {
  const parts = [`request ${request.requestId} is ${request.status}`];
  if (request.autoApprovedByRule) parts.push(`auto-approved by rule ${request.autoApprovedByRule}`);
  if (request.status === 'pending_approval' && request.requiredApprovals.length > 0) {
    parts.push(`needs approval from ${request.requiredApprovals.map(clause => clause.join(' or ')).join(', and ')}`);
  }
  if (request.reason) parts.push(`reason: ${request.reason}`);
  if (request.secretPath) parts.push(`credentials at ${request.secretPath}`);
  return parts.join('; ');
}
