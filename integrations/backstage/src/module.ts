import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { createBucketRequestAction } from './actions/bucket';
import { createDatabaseRequestAction } from './actions/database';
import { createRequestWaitAction } from './actions/wait';
import { GantryClient } from './client';

/**
 * The scaffolder module: registers `gantry:database:request`,
 * `gantry:bucket:request` and `gantry:request:wait`, talking to intake at
 * `gantry.baseUrl` with the token `gantry.token`.
 */
export const scaffolderModuleGantry = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'gantry',
  register(reg) {
    reg.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ scaffolder, config, logger }) {
        const client = GantryClient.fromConfig(config);
        scaffolder.addActions(
          createDatabaseRequestAction({ client }),
          createBucketRequestAction({ client }),
          createRequestWaitAction({ client }),
        );
        logger.info(`Gantry scaffolder actions talk to intake at ${config.getString('gantry.baseUrl')}`);
      },
    });
  },
});
