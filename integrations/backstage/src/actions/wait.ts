import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import type { GantryRequest, IntakeApi, RequestStatus } from '../client';
import { GantryError } from '../client';
import { REQUEST_ID_PATTERN } from '../rules';
import { describe } from './common';

export const REQUEST_WAIT_ACTION_ID = 'gantry:request:wait';

/** How far along each status is; `until` is reached at or past its rank. */
const PROGRESS: Record<RequestStatus, number> = {
  unspecified: 0,
  pending_approval: 1,
  approved: 2,
  provisioning: 3,
  ready: 4,
  rejected: -1,
  cancelled: -1,
  failed: -1,
};

const FAILED: RequestStatus[] = ['rejected', 'cancelled', 'failed'];

/** How long to wait before watching again after the stream broke. */
const RETRY_DELAY_MS = 1000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>(resolve => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * `gantry:request:wait`: follows a request (intake's WatchRequest stream)
 * until it is approved or ready, logging every status change to the task log.
 * A rejected, cancelled or failed request fails the step; reaching the
 * timeout does not (the request goes on in Gantry) unless `failOnTimeout`.
 */
export function createRequestWaitAction(options: { client: IntakeApi }) {
  const { client } = options;
  return createTemplateAction({
    id: REQUEST_WAIT_ACTION_ID,
    description:
      'Waits until a Gantry request is approved or ready (or fails), with a timeout, logging each status change.',
    examples: [
      {
        description: 'Wait up to 30 minutes for the database to be ready',
        example: [
          'steps:',
          '  - id: wait',
          '    action: gantry:request:wait',
          '    input:',
          '      requestId: ${{ steps.request.output.requestId }}',
          '      until: ready',
          '      timeoutMinutes: 30',
        ].join('\n'),
      },
    ],
    schema: {
      input: {
        requestId: z => z.string().regex(new RegExp(REQUEST_ID_PATTERN)).describe('The Gantry request id'),
        until: z =>
          z
            .enum(['approved', 'ready'])
            .default('ready')
            .describe('approved: stop once approved (or further); ready: stop once provisioned'),
        timeoutMinutes: z =>
          z.number().positive().max(1440).default(30).describe('Stop waiting after this long (at most a day)'),
        failOnTimeout: z =>
          z.boolean().default(false).describe('Fail the step on timeout instead of reporting the current status'),
      },
      output: {
        requestId: z => z.string(),
        status: z => z.string().describe('The status when the wait ended'),
        timedOut: z => z.boolean().describe('Whether the timeout ended the wait'),
        reason: z => z.string().optional().describe('Why the request was rejected, cancelled or failed'),
        secretPath: z => z.string().optional().describe('Secrets Manager path of the credentials, once ready'),
      },
    },
    async handler(ctx) {
      const { requestId } = ctx.input;
      const until = ctx.input.until ?? 'ready';
      const timeoutMs = (ctx.input.timeoutMinutes ?? 30) * 60_000;
      const target = PROGRESS[until];
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), timeoutMs);
      const onTaskAbort = () => deadline.abort();
      ctx.signal?.addEventListener('abort', onTaskAbort);
      let last: GantryRequest | undefined;
      const seen = (request: GantryRequest) => {
        if (request.status !== last?.status) {
          ctx.logger.info(`Gantry: ${describe(request)}`);
        }
        last = request;
        return PROGRESS[request.status] >= target || FAILED.includes(request.status);
      };
      try {
        while (!deadline.signal.aborted) {
          try {
            const final = await client.watchRequest(requestId, seen, deadline.signal);
            if (final && (PROGRESS[final.status] >= target || FAILED.includes(final.status))) break;
          } catch (error) {
            // Any error but a dropped connection is the answer (NOT_FOUND, UNAUTHENTICATED, ...).
            if (!(error instanceof GantryError) || !['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL'].includes(error.codeName)) {
              throw error;
            }
            ctx.logger.warn(`Gantry: watching request ${requestId} broke off (${error.message}); watching again`);
          }
          if (!deadline.signal.aborted) await sleep(RETRY_DELAY_MS, deadline.signal);
        }
      } finally {
        clearTimeout(timer);
        ctx.signal?.removeEventListener('abort', onTaskAbort);
      }
      if (ctx.signal?.aborted) {
        throw new Error(`waiting for Gantry request ${requestId} was cancelled`);
      }
      const request = last ?? (await client.getRequest(requestId));
      const timedOut = !(PROGRESS[request.status] >= target || FAILED.includes(request.status));
      ctx.output('requestId', requestId);
      ctx.output('status', request.status);
      ctx.output('timedOut', timedOut);
      if (request.reason) ctx.output('reason', request.reason);
      if (request.secretPath) ctx.output('secretPath', request.secretPath);
      if (FAILED.includes(request.status)) {
        throw new Error(`Gantry request ${requestId} was ${request.status}${request.reason ? `: ${request.reason}` : ''}`);
      }
      if (timedOut) {
        const message = `Gantry request ${requestId} is still ${request.status} after ${ctx.input.timeoutMinutes ?? 30} minutes (waiting for ${until}); it goes on in Gantry`;
        if (ctx.input.failOnTimeout) throw new Error(message);
        ctx.logger.warn(message);
      } else {
        ctx.logger.info(`Gantry: request ${requestId} reached ${request.status}`);
      }
    },
  });
}
