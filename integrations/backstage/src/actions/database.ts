import { createTemplateAction } from '@backstage/plugin-scaffolder-node';
import type { IntakeApi } from '../client';
import {
  ENVIRONMENTS,
  IDENTIFIER_PATTERN,
  USERNAME_PATTERN,
  OWNER_PATTERN,
  RISKS,
  SIZES,
  SLUG_PATTERN,
  ownerName,
} from '../rules';
import { describe, idempotencyKey, reportGantryError, requestOutputs, requesterOf, setOutputs } from './common';
import { requestOutputSchema } from './schemas';

export const DATABASE_REQUEST_ACTION_ID = 'gantry:database:request';

/** `gantry:database:request`: asks intake for a Postgres database on the shared platform instance. */
export function createDatabaseRequestAction(options: { client: IntakeApi }) {
  const { client } = options;
  return createTemplateAction({
    id: DATABASE_REQUEST_ACTION_ID,
    description:
      'Requests a Postgres database from Gantry. A retried task sends the same idempotency key (its task id), so it never makes a second request.',
    examples: [
      {
        description: 'A small development database, approved on submission by policy',
        example: [
          'steps:',
          '  - id: request',
          '    action: gantry:database:request',
          '    input:',
          '      databaseName: orders',
          '      owner: group:default/team-orders',
          '      environment: dev',
          '      domain: payments',
          '      risk: low',
          '      size: small',
        ].join('\n'),
      },
    ],
    schema: {
      input: {
        databaseName: z =>
          z
            .string()
            .regex(new RegExp(IDENTIFIER_PATTERN))
            .describe('Database name: ^[a-z][a-z0-9_]*$, at most 63 bytes, not reserved (postgres, template0/1, public, pg_*, ...)'),
        username: z =>
          z
            .string()
            .regex(new RegExp(USERNAME_PATTERN))
            .optional()
            .describe('Role name, same rules as the database name and not ending in _clone; defaults to <databaseName>_user'),
        owner: z =>
          z
            .string()
            .regex(new RegExp(OWNER_PATTERN))
            .describe('Owning team: an entity ref (group:default/team-orders) or a team name; ^[a-z0-9-]+$'),
        requester: z =>
          z
            .string()
            .regex(new RegExp(SLUG_PATTERN))
            .optional()
            .describe('The person asking, ^[a-z0-9-]+$; defaults to the signed-in user'),
        environment: z => z.enum(ENVIRONMENTS).describe('Environment'),
        domain: z => z.string().regex(new RegExp(SLUG_PATTERN)).describe('Business domain, ^[a-z0-9-]+$'),
        risk: z => z.enum(RISKS).describe('Risk class of the data (sets backups, rotation and monitoring)'),
        size: z => z.enum(SIZES).describe('Size (sets the connection limit and the approvals needed)'),
      },
      output: requestOutputSchema,
    },
    async handler(ctx) {
      const { input } = ctx;
      const key = idempotencyKey(ctx.task.id, ctx.step?.id, DATABASE_REQUEST_ACTION_ID);
      const request = await ctx
        .checkpoint({
          key: `gantry-database-request-${key}`,
          fn: async () =>
            (await client.requestDatabase({
              idempotencyKey: key,
              databaseName: input.databaseName,
              username: input.username,
              owner: ownerName(input.owner),
              requester: requesterOf(input.requester, ctx.user),
              environment: input.environment,
              domain: input.domain,
              risk: input.risk,
              size: input.size,
            })) as any,
        })
        .catch(error => reportGantryError(ctx.logger, error));
      ctx.logger.info(`Gantry: ${describe(request)}`);
      setOutputs(ctx.output, requestOutputs(client, request));
    },
  });
}
