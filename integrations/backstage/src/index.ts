/**
 * Backstage scaffolder actions that request Postgres databases and S3
 * buckets from Gantry's intake service.
 *
 * @packageDocumentation
 */
export { scaffolderModuleGantry as default } from './module';
export { createDatabaseRequestAction, DATABASE_REQUEST_ACTION_ID } from './actions/database';
export { createBucketRequestAction, BUCKET_REQUEST_ACTION_ID } from './actions/bucket';
export { createRequestWaitAction, REQUEST_WAIT_ACTION_ID } from './actions/wait';
export { GantryClient, GantryError } from './client';
export type { GantryClientOptions, GantryRequest, IntakeApi, FieldError, RequestStatus } from './client';
