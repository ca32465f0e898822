/**
 * The templates are what users see: they must be valid scaffolder templates,
 * call only our actions with inputs those actions accept, and their form
 * must carry the same rules as the actions (and so intake).
 */
import { templateEntityV1beta3Validator } from '@backstage/plugin-scaffolder-common';
import { Validator, type Schema } from 'jsonschema';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { createBucketRequestAction } from '../src/actions/bucket';
import { createDatabaseRequestAction } from '../src/actions/database';
import { createRequestWaitAction } from '../src/actions/wait';
import { FakeIntake } from './fakes';

const client = new FakeIntake();
const actions = Object.fromEntries(
  [createDatabaseRequestAction({ client }), createBucketRequestAction({ client }), createRequestWaitAction({ client })].map(
    action => [action.id, action],
  ),
);

type Template = {
  spec: {
    parameters: { required?: string[]; properties: Record<string, Schema & Record<string, unknown>> }[];
    steps: { id: string; action: string; input: Record<string, unknown> }[];
    output: Record<string, unknown>;
  };
};

function load(file: string): Template {
  return parse(fs.readFileSync(path.join(__dirname, '..', 'templates', file), 'utf8'));
}

/** The form as one JSON schema (what the scaffolder's form validates page by page). */
function formSchema(template: Template): Schema {
  return {
    type: 'object',
    required: template.spec.parameters.flatMap(page => page.required ?? []),
    properties: Object.assign({}, ...template.spec.parameters.map(page => page.properties)),
  };
}

/**
 * Renders `${{ ... }}` the way the scaffolder does for a whole-value
 * expression: the value keeps its type, and an empty one is left out.
 */
function render(input: Record<string, unknown>, context: Record<string, unknown>): Record<string, unknown> {
  const rendered: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const expression = typeof value === 'string' ? /^\$\{\{\s*([\w.]+)\s*\}\}$/.exec(value) : null;
    const result = expression
      ? expression[1].split('.').reduce<any>((object, part) => object?.[part], context)
      : value;
    if (result !== undefined && result !== '') rendered[key] = result;
  }
  return rendered;
}

const validator = new Validator();

describe.each([
  {
    file: 'request-database.yaml',
    request: 'gantry:database:request',
    form: { databaseName: 'orders', owner: 'group:default/team-orders', environment: 'dev', domain: 'payments', risk: 'low', size: 'small' },
    badForm: { databaseName: 'Orders', owner: 'Team Orders', environment: 'production', domain: 'pay ments', risk: 'x', size: 'huge' },
    platformFields: ['databaseName', 'username', 'owner', 'environment', 'domain', 'risk', 'size'],
  },
  {
    file: 'request-bucket.yaml',
    request: 'gantry:bucket:request',
    form: { purpose: 'logs', owner: 'group:default/team-obs', environment: 'prod', region: 'eu-west-1', retentionDays: 30 },
    badForm: { purpose: 'backups', owner: 'Team', environment: 'production', region: 'europe', bucketName: 'Bad.Bucket', retentionDays: 4000 },
    platformFields: ['bucketName', 'purpose', 'environment', 'region', 'owner', 'retentionDays', 'kmsKeyId', 'replicationTarget'],
  },
])('$file', ({ file, request, form, badForm, platformFields }) => {
  const template = load(file);

  it("is a valid scaffolder.backstage.io/v1beta3 Template (the scaffolder's own validator)", async () => {
    await expect(templateEntityV1beta3Validator.check(template as any)).resolves.toBe(true);
  });

  it('calls only the Gantry actions: request, then wait', () => {
    expect(template.spec.steps.map(step => step.action)).toEqual([request, 'gantry:request:wait']);
  });

  it("gives every step only inputs its action knows, and all it requires", () => {
    for (const step of template.spec.steps) {
      const schema = actions[step.action].schema!.input as Schema;
      expect(Object.keys(step.input).filter(key => !(key in schema.properties!))).toEqual([]);
      const required = (schema.required as string[]) ?? [];
      expect(required.filter(key => !(key in step.input))).toEqual([]);
    }
  });

  it("has the form fields with the actions' rules (patterns, enums, bounds)", () => {
    const schema = actions[request].schema!.input as Schema;
    const properties = formSchema(template).properties!;
    for (const field of platformFields) {
      const action = schema.properties![field];
      // Compared as regular expressions: a RegExp's source escapes `/`.
      const pattern = (text: unknown) => (typeof text === 'string' ? new RegExp(text).source : text);
      expect([field, pattern(properties[field]?.pattern)]).toEqual([field, pattern(action.pattern)]);
      expect([field, properties[field]?.enum]).toEqual([field, action.enum]);
      expect([field, properties[field]?.maximum]).toEqual([field, action.maximum]);
    }
    expect((properties.owner as Record<string, unknown>)['ui:field']).toBe('OwnerPicker');
  });

  it('the form accepts a good request, which renders into inputs the actions accept', () => {
    const result = validator.validate(form, formSchema(template));
    expect(result.errors).toEqual([]);
    const context = {
      parameters: form,
      user: { entity: { metadata: { name: 'alice' } } },
      steps: { request: { output: { requestId: '0193a0c4-7d2e-7b3a-9f00-1234567890ab' } } },
    };
    for (const step of template.spec.steps) {
      const inputs = render(step.input, context);
      const check = validator.validate(inputs, actions[step.action].schema!.input as Schema);
      expect([step.id, check.errors.map(String)]).toEqual([step.id, []]);
    }
    const requestInputs = render(template.spec.steps[0].input, context);
    expect(requestInputs.requester).toBe('alice');
  });

  it('the form refuses what intake would, field by field', () => {
    const result = validator.validate(badForm, formSchema(template));
    const refused = new Set(result.errors.map(error => error.property.replace(/^instance\./, '')));
    expect([...refused].sort()).toEqual(Object.keys(badForm).sort());
  });

  it('shows the links and the status', () => {
    const links = template.spec.output.links as Record<string, string>[];
    const outputs = (actions[request].schema!.output as Schema).properties!;
    for (const link of links) {
      for (const value of [link.url, link.entityRef, link.if].filter(Boolean)) {
        const output = /^\$\{\{ steps\.request\.output\.(\w+) \}\}$/.exec(value)?.[1];
        expect([value, output && output in outputs]).toEqual([value, true]);
      }
    }
    expect(JSON.stringify(template.spec.output.text)).toContain('steps.wait.output.status');
  });
});
