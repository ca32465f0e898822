import type { z as zod } from 'zod/v3';

/** Output schema shared by the request actions. */
export const requestOutputSchema = {
  requestId: (z: typeof zod) => z.string().describe('Gantry request id'),
  status: (z: typeof zod) =>
    z.string().describe('pending_approval, approved, rejected, cancelled, provisioning, ready or failed'),
  autoApprovedByRule: (z: typeof zod) => z.string().describe('The policy rule that approved on submission, if any'),
  requestUrl: (z: typeof zod) =>
    z.string().optional().describe('The request in Gantry (when gantry.requestUrlTemplate is configured)'),
  entityRef: (z: typeof zod) =>
    z.string().optional().describe("The database's future catalog entity (from intake's catalog export)"),
  secretPath: (z: typeof zod) =>
    z.string().optional().describe('Secrets Manager path of the credentials, once ready'),
  links: (z: typeof zod) =>
    z
      .array(
        z.object({
          title: z.string(),
          url: z.string().optional(),
          entityRef: z.string().optional(),
          icon: z.string().optional(),
        }),
      )
      .describe('Links for the template output: the request in Gantry, the future catalog entity'),
};
