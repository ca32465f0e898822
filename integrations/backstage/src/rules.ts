/**
 * The platform's input rules, as intake enforces them
 * (services/intake/src/domain/validate.rs). The actions' input schemas and
 * the templates' form fields are built from these, so the form refuses what
 * intake would refuse; intake still checks everything and its field errors
 * are shown when something slips through (test/rules.test.ts keeps the
 * templates in step with this file).
 */

export const ENVIRONMENTS = ['dev', 'test', 'staging', 'prod'] as const;
export const RISKS = ['none', 'low', 'medium', 'high', 'access'] as const;
export const SIZES = ['small', 'medium', 'large', 'xlarge'] as const;
export const BUCKET_PURPOSES = ['backend-state', 'logs', 'traces', 'artifacts'] as const;

export type Environment = (typeof ENVIRONMENTS)[number];
export type Risk = (typeof RISKS)[number];
export type Size = (typeof SIZES)[number];
export type BucketPurpose = (typeof BUCKET_PURPOSES)[number];

/** Longest database, role, owner, requester or domain name (Postgres' limit). */
export const NAME_MAX_BYTES = 63;
export const RETENTION_MAX_DAYS = 3650;

/** Names Postgres or the platform keep for themselves (plus any `pg_` prefix). */
export const RESERVED_NAMES = [
  'postgres',
  'template0',
  'template1',
  'public',
  'information_schema',
  'root',
  'admin',
  'rdsadmin',
  'rds_superuser',
  'gantry',
  'user',
  'current_user',
  'session_user',
  'none',
  'all',
] as const;

/**
 * A database or role name: `^[a-z][a-z0-9_]*$`, at most 63 bytes, not
 * reserved, not starting with `pg_`, in one ECMA-262 pattern (what JSON
 * Schema and the scaffolder's form understand).
 */
export const IDENTIFIER_PATTERN = `^(?!pg_)(?!(?:${RESERVED_NAMES.join('|')})$)[a-z][a-z0-9_]{0,62}$`;
/** A role name: an identifier not ending in `_clone` (kept for the second user of alternating-users rotation). */
export const USERNAME_PATTERN = `^(?!.*_clone$)${IDENTIFIER_PATTERN.slice(1)}`;

/** A team, person or domain name: `[a-z0-9]` at both ends, `-` inside, at most 63 bytes. */
export const SLUG_PATTERN = '^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$';

/**
 * An owner as the form's OwnerPicker gives it (`group:default/team-orders`)
 * or as a bare team name (`team-orders`); intake gets the name part.
 */
export const OWNER_PATTERN = '^(?:(?:group|user):)?(?:[a-z0-9-]+/)?(?=[a-z0-9-]{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$';

/** An S3 bucket name without dots: 3 to 63 of `[a-z0-9-]`, letter or digit at both ends. */
export const BUCKET_NAME_PATTERN =
  '^(?!xn--|sthree-|amzn-s3-demo-)(?!.*(?:-s3alias|--ol-s3|--x-s3|--table-s3)$)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$';

/** An AWS region such as `eu-west-1` or `us-gov-west-1`. */
export const REGION_PATTERN = '^(?=.{1,32}$)[a-z]+(?:-[a-z]+)+-[0-9]+$';

/** A KMS key id, alias or ARN. */
export const KMS_KEY_PATTERN = '^[A-Za-z0-9:/_-]{0,2048}$';

/** A request id (UUID). */
export const REQUEST_ID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Returns the team name of an owner given as an entity ref or a bare name. */
export function ownerName(owner: string): string {
  const withoutKind = owner.includes(':') ? owner.slice(owner.indexOf(':') + 1) : owner;
  return withoutKind.includes('/') ? withoutKind.slice(withoutKind.lastIndexOf('/') + 1) : withoutKind;
}

