import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import type { IntakeApi } from '../client';
import {
  BUCKET_NAME_PATTERN,
  BUCKET_PURPOSES,
  ENVIRONMENTS,
  KMS_KEY_PATTERN,
  OWNER_PATTERN,
  REGION_PATTERN,
  RETENTION_MAX_DAYS,
  SLUG_PATTERN,
  ownerName,
} from '../rules';
import { describe, idempotencyKey, reportGantryError, requestOutputs, requesterOf, setOutputs } from './common';
import { requestOutputSchema } from './schemas';

export const BUCKET_REQUEST_ACTION_ID = 'gantry:bucket:request';

/** `gantry:bucket:request`: asks intake for an S3 bucket. */
export function createBucketRequestAction(options: { client: IntakeApi }) {
  const { client } = options;
  return createTemplateAction({
    id: BUCKET_REQUEST_ACTION_ID,
    description:
      'Requests an S3 bucket from Gantry. A retried task sends the same idempotency key (its task id), so it never makes a second request.',
    examples: [
      {
        description: 'A production log bucket kept 30 days',
        example: [
          'steps:',
          '  - id: request',
          '    action: gantry:bucket:request',
          '    input:',
          '      purpose: logs',
          '      environment: prod',
          '      region: eu-west-1',
          '      owner: group:default/team-obs',
          '      retentionDays: 30',
        ].join('\n'),
      },
    ],
    schema: {
      input: {
        bucketName: z =>
          z
            .string()
            .regex(new RegExp(BUCKET_NAME_PATTERN))
            .optional()
            .describe('S3 name without dots, 3-63 of [a-z0-9-]; defaults to <owner>-<purpose>-<environment>-<region>'),
        purpose: z => z.enum(BUCKET_PURPOSES).describe('What the bucket is for (sets its lifecycle rules)'),
        environment: z => z.enum(ENVIRONMENTS).describe('Environment'),
        region: z => z.string().regex(new RegExp(REGION_PATTERN)).describe('AWS region, for example eu-west-1'),
        owner: z =>
          z
            .string()
            .regex(new RegExp(OWNER_PATTERN))
            .describe('Owning team: an entity ref (group:default/team-obs) or a team name; ^[a-z0-9-]+$'),
        requester: z =>
          z
            .string()
            .regex(new RegExp(SLUG_PATTERN))
            .optional()
            .describe('The person asking, ^[a-z0-9-]+$; defaults to the signed-in user'),
        retentionDays: z =>
          z
            .number()
            .int()
            .min(0)
            .max(RETENTION_MAX_DAYS)
            .optional()
            .describe('Days objects are kept: 1-3650 for logs and traces, 0 (never expire) for backend-state'),
        kmsKeyId: z =>
          z.string().regex(new RegExp(KMS_KEY_PATTERN)).optional().describe('KMS key id, alias or ARN; SSE-S3 when empty'),
        replicationTarget: z =>
          z
            .string()
            .regex(new RegExp(BUCKET_NAME_PATTERN))
            .optional()
            .describe('Bucket to replicate to, if any'),
      },
      output: requestOutputSchema,
    },
    async handler(ctx) {
      const { input } = ctx;
      const key = idempotencyKey(ctx.task.id, ctx.step?.id, BUCKET_REQUEST_ACTION_ID);
      const request = await ctx
        .checkpoint({
          key: `gantry-bucket-request-${key}`,
          fn: async () =>
            (await client.requestBucket({
              idempotencyKey: key,
              bucketName: input.bucketName,
              purpose: input.purpose,
              environment: input.environment,
              region: input.region,
              owner: ownerName(input.owner),
              requester: requesterOf(input.requester, ctx.user),
              retentionDays: input.retentionDays,
              kmsKeyId: input.kmsKeyId,
              replicationTarget: input.replicationTarget,
            })) as any,
        })
        .catch(error => reportGantryError(ctx.logger, error));
      ctx.logger.info(`Gantry: ${describe(request)}`);
      setOutputs(ctx.output, requestOutputs(client, request));
    },
  });
}
